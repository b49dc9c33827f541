//go:build amd64 && !purego

#include "textflag.h"

// func attnDotsAVX2(q *float32, k *uint16, hd, stride, n int, scale float32, out *float32)
TEXT ·attnDotsAVX2(SB), NOSPLIT, $0-56
	MOVQ  q+0(FP), SI
	MOVQ  k+8(FP), DI
	MOVQ  hd+16(FP), BX
	MOVQ  stride+24(FP), DX
	SHLQ  $1, DX
	MOVQ  n+32(FP), CX
	MOVSS scale+40(FP), X7
	MOVQ  out+48(FP), R8

row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ   AX, AX
	MOVQ   BX, R9
	CMPQ   R9, $16
	JLT    tail8

pair:
	VCVTPH2PS   (DI)(AX*2), Y2
	VFMADD231PS (SI)(AX*4), Y2, Y0
	VCVTPH2PS   16(DI)(AX*2), Y3
	VFMADD231PS 32(SI)(AX*4), Y3, Y1
	ADDQ        $16, AX
	SUBQ        $16, R9
	CMPQ        R9, $16
	JGE         pair

tail8:
	CMPQ        R9, $0
	JEQ         reduce
	VCVTPH2PS   (DI)(AX*2), Y2
	VFMADD231PS (SI)(AX*4), Y2, Y0

reduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMULSS       X7, X0, X0
	VMOVSS       X0, (R8)
	ADDQ         $4, R8
	ADDQ         DX, DI
	DECQ         CX
	JNZ          row
	VZEROUPPER
	RET

// func attnMixAVX2(w *float32, v *uint16, hd, stride, n int, out *float32)
TEXT ·attnMixAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ v+8(FP), DI
	MOVQ hd+16(FP), BX
	MOVQ stride+24(FP), DX
	SHLQ $1, DX
	MOVQ n+32(FP), CX
	MOVQ out+40(FP), R8
	XORQ AX, AX

block32:
	MOVQ BX, R9
	SUBQ AX, R9
	CMPQ R9, $32
	JLT  block8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	LEAQ (DI)(AX*2), R10
	MOVQ SI, R11
	MOVQ CX, R12

loop32:
	VBROADCASTSS (R11), Y4
	VCVTPH2PS    (R10), Y5
	VCVTPH2PS    16(R10), Y6
	VCVTPH2PS    32(R10), Y7
	VCVTPH2PS    48(R10), Y8
	VFMADD231PS  Y5, Y4, Y0
	VFMADD231PS  Y6, Y4, Y1
	VFMADD231PS  Y7, Y4, Y2
	VFMADD231PS  Y8, Y4, Y3
	ADDQ         $4, R11
	ADDQ         DX, R10
	DECQ         R12
	JNZ          loop32
	VMOVUPS      Y0, (R8)(AX*4)
	VMOVUPS      Y1, 32(R8)(AX*4)
	VMOVUPS      Y2, 64(R8)(AX*4)
	VMOVUPS      Y3, 96(R8)(AX*4)
	ADDQ         $32, AX
	JMP          block32

block8:
	CMPQ   R9, $0
	JEQ    done
	VXORPS Y0, Y0, Y0
	LEAQ   (DI)(AX*2), R10
	MOVQ   SI, R11
	MOVQ   CX, R12

loop8:
	VBROADCASTSS (R11), Y4
	VCVTPH2PS    (R10), Y5
	VFMADD231PS  Y5, Y4, Y0
	ADDQ         $4, R11
	ADDQ         DX, R10
	DECQ         R12
	JNZ          loop8
	VMOVUPS      Y0, (R8)(AX*4)
	ADDQ         $8, AX
	SUBQ         $8, R9
	JMP          block8

done:
	VZEROUPPER
	RET
