"""A 64-byte aligned stack frame for kernels whose hot loops spill AVX-512 registers.

The unrolled Mahalanobis solvers (:mod:`.gaussian`) that LLVM vectorises
(the non-centring ones; from width 8 the centring ones use :mod:`.simd`) hold
more factor entries than there are vector registers, so LLVM keeps each entry, broadcast to a full
vector, in a stack slot and reloads it once per multiply-add.  Without
realignment those slots are only 16-byte aligned, and in a process whose
thread stacks happen to sit at an unlucky offset every 64-byte reload straddles
two cache lines: the same machine code then ran ~1.35x slower (W2 float64
log-density 93-99 ms against 69-72 ms, float32 57-62 against 43-46, varying
from process to process with nothing else changed).  One 64-byte aligned stack
object makes LLVM realign the frame (``and rsp, -64``) and then give the spill
slots their natural 64-byte alignment.
"""
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def align_stack_frame(typingctx):
    """Make the calling function's (or, once inlined, its caller's) stack frame 64-byte aligned.

    Emits a 64-byte aligned stack slot whose address escapes into an empty
    inline-assembly statement, so that LLVM can neither drop it nor its
    alignment; costs one ``and`` in the prologue.
    """
    def codegen(context, builder, signature, args):
        with builder.goto_entry_block():
            slot = builder.alloca(ir.VectorType(ir.DoubleType(), 8))
            slot.align = 64
        builder.asm(ir.FunctionType(ir.VoidType(), [slot.type]), "", "r", [slot], side_effect=True)
        return context.get_dummy_value()

    return types.void(), codegen
