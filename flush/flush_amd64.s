#include "textflag.h"

// The line loops: align the start down to 64 bytes, then one instruction
// per line until the end of the range. Each returns the number of lines
// so tests can compare it with lineCount. n == 0 flushes nothing.

// func clwbLines(p unsafe.Pointer, n uintptr) int
TEXT ·clwbLines(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	XORQ DX, DX
	TESTQ CX, CX
	JZ   clwbDone
	ADDQ AX, CX       // CX = end
	ANDQ $-64, AX
clwbLoop:
	CLWB (AX)
	ADDQ $64, AX
	INCQ DX
	CMPQ AX, CX
	JB   clwbLoop
clwbDone:
	MOVQ DX, ret+16(FP)
	RET

// func clflushoptLines(p unsafe.Pointer, n uintptr) int
TEXT ·clflushoptLines(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	XORQ DX, DX
	TESTQ CX, CX
	JZ   optDone
	ADDQ AX, CX
	ANDQ $-64, AX
optLoop:
	CLFLUSHOPT (AX)
	ADDQ $64, AX
	INCQ DX
	CMPQ AX, CX
	JB   optLoop
optDone:
	MOVQ DX, ret+16(FP)
	RET

// func clflushLines(p unsafe.Pointer, n uintptr) int
TEXT ·clflushLines(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	XORQ DX, DX
	TESTQ CX, CX
	JZ   clfDone
	ADDQ AX, CX
	ANDQ $-64, AX
clfLoop:
	CLFLUSH (AX)
	ADDQ $64, AX
	INCQ DX
	CMPQ AX, CX
	JB   clfLoop
clfDone:
	MOVQ DX, ret+16(FP)
	RET

// func sfence()
// Orders every earlier CLWB, CLFLUSHOPT and non-temporal store before any
// later store: once it retires, they have reached the persistence domain.
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET
