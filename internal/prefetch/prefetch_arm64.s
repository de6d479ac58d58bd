#include "textflag.h"

// func prefetchL1(p unsafe.Pointer)
TEXT ·prefetchL1(SB), NOSPLIT, $0-8
	MOVD p+0(FP), R0
	PRFM (R0), PLDL1KEEP
	RET
