#include "textflag.h"

// Line loops: align the start down to line (a power of two), then one DC
// per line until the end of the range; return the number of lines.

// func dcCVAPLines(p unsafe.Pointer, n, line uintptr) int
TEXT ·dcCVAPLines(SB), NOSPLIT, $0-32
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD line+16(FP), R2
	MOVD $0, R3
	CBZ  R1, cvapDone
	ADD  R0, R1, R1      // R1 = end
	SUB  $1, R2, R4
	BIC  R4, R0, R0      // align down
cvapLoop:
	DC   CVAP, R0        // clean to the point of persistence
	ADD  R2, R0, R0
	ADD  $1, R3, R3
	CMP  R1, R0
	BLO  cvapLoop
cvapDone:
	MOVD R3, ret+24(FP)
	RET

// func dcCVACLines(p unsafe.Pointer, n, line uintptr) int
TEXT ·dcCVACLines(SB), NOSPLIT, $0-32
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD line+16(FP), R2
	MOVD $0, R3
	CBZ  R1, cvacDone
	ADD  R0, R1, R1
	SUB  $1, R2, R4
	BIC  R4, R0, R0
cvacLoop:
	DC   CVAC, R0        // clean to the point of coherency
	ADD  R2, R0, R0
	ADD  $1, R3, R3
	CMP  R1, R0
	BLO  cvacLoop
cvacDone:
	MOVD R3, ret+24(FP)
	RET

// func dsb()
// DSB, not DMB: only a DSB waits for earlier DC cleans to complete.
// Inner shareable is the domain of every CPU that can see the data.
TEXT ·dsb(SB), NOSPLIT, $0-0
	DSB  $11 // ISH
	RET

// func ctrEL0() uint64
TEXT ·ctrEL0(SB), NOSPLIT, $0-8
	MRS  CTR_EL0, R0
	MOVD R0, ret+0(FP)
	RET
