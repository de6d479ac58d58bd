#include "textflag.h"

// Non-temporal copies for persistCopy. Contract (checked by the Go side):
// dst is 64-byte aligned, n is a non-zero multiple of 64, src is any
// address (unaligned loads). They stream 256 bytes per iteration, then
// single lines, and do not fence: the caller's Drain does.

// func ntCopySSE2(dst, src unsafe.Pointer, n uintptr)
TEXT ·ntCopySSE2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
sse2Loop4:
	CMPQ CX, $256
	JB   sse2Line
	// Eight registers, twice: X15 is the Go ABI's zero register.
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVOU 64(SI), X4
	MOVOU 80(SI), X5
	MOVOU 96(SI), X6
	MOVOU 112(SI), X7
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	MOVNTO X4, 64(DI)
	MOVNTO X5, 80(DI)
	MOVNTO X6, 96(DI)
	MOVNTO X7, 112(DI)
	MOVOU 128(SI), X0
	MOVOU 144(SI), X1
	MOVOU 160(SI), X2
	MOVOU 176(SI), X3
	MOVOU 192(SI), X4
	MOVOU 208(SI), X5
	MOVOU 224(SI), X6
	MOVOU 240(SI), X7
	MOVNTO X0, 128(DI)
	MOVNTO X1, 144(DI)
	MOVNTO X2, 160(DI)
	MOVNTO X3, 176(DI)
	MOVNTO X4, 192(DI)
	MOVNTO X5, 208(DI)
	MOVNTO X6, 224(DI)
	MOVNTO X7, 240(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JMP  sse2Loop4
sse2Line:
	TESTQ CX, CX
	JZ   sse2Done
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JMP  sse2Line
sse2Done:
	RET

// func ntCopyAVX2(dst, src unsafe.Pointer, n uintptr)
TEXT ·ntCopyAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
avx2Loop4:
	CMPQ CX, $256
	JB   avx2Line
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVDQU 128(SI), Y4
	VMOVDQU 160(SI), Y5
	VMOVDQU 192(SI), Y6
	VMOVDQU 224(SI), Y7
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	VMOVNTDQ Y2, 64(DI)
	VMOVNTDQ Y3, 96(DI)
	VMOVNTDQ Y4, 128(DI)
	VMOVNTDQ Y5, 160(DI)
	VMOVNTDQ Y6, 192(DI)
	VMOVNTDQ Y7, 224(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JMP  avx2Loop4
avx2Line:
	TESTQ CX, CX
	JZ   avx2Done
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JMP  avx2Line
avx2Done:
	// Dirty upper halves of the YMM registers slow down later SSE code.
	VZEROUPPER
	RET

// func ntCopyAVX512(dst, src unsafe.Pointer, n uintptr)
TEXT ·ntCopyAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
avx512Loop4:
	CMPQ CX, $256
	JB   avx512Line
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVNTDQ Z0, 0(DI)
	VMOVNTDQ Z1, 64(DI)
	VMOVNTDQ Z2, 128(DI)
	VMOVNTDQ Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JMP  avx512Loop4
avx512Line:
	TESTQ CX, CX
	JZ   avx512Done
	VMOVDQU64 0(SI), Z0
	VMOVNTDQ Z0, 0(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JMP  avx512Line
avx512Done:
	VZEROUPPER
	RET
