"""Explicit vectors, one register wide, for the blocked Mahalanobis solver of :mod:`.gaussian`.

Why not leave it to LLVM's loop vectoriser, as everywhere else: the solver's
speed comes from register blocking -- a block of 4 coordinates x R vectors of
rows stays in registers while each factor entry, loaded once as a scalar and
broadcast, feeds R multiply-adds -- and the vectoriser does not keep such a
block.  Left to it, loops over many loop-invariant factor entries hoisted each
entry, broadcast to a full vector, out of the loop, more than the registers
hold, so every multiply-add reloaded a whole vector from a stack slot and the
loop was load-bound (see :func:`.gaussian._blocked_mahalanobis_source` for the
measured gains).

``Vector(dtype)`` is a Numba type lowered to LLVM ``<W x dtype>`` with W =
:data:`VECTOR_BYTES` / itemsize, the width of one register of the target Numba
compiles for (:data:`.target.PLAN`: 64 bytes with AVX-512, 32 with AVX2, 16
with SSE2 or NEON), so that a vector is one register, never a pair.  The
arithmetic is exactly IEEE: ``fnmadd``/``fmadd`` are single-rounding fused
multiply-adds (``llvm.fma``) on targets that have the instruction, a multiply
and an add where they do not (as the scalar code with 'contract' compiles
there; ``llvm.fma`` would be a libm call per lane); ``sub``/``mul`` plain.
"""
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model

from .target import PLAN

#: Bytes per vector: one register of the target (see :mod:`.target`).
VECTOR_BYTES = PLAN.vector_bytes
#: Whether fmadd/fnmadd compile to one fused instruction (else multiply, then add).
FUSED = PLAN.fma


class Vector(types.Type):
    """W lanes of a float dtype, W = :data:`VECTOR_BYTES` / itemsize."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.width = VECTOR_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vector({dtype} x {self.width})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.width))


def _check_float(*tys):
    for t in tys:
        if t not in (types.float32, types.float64):
            raise TypingError(f"simd: float32/float64 expected, got {t}")


def _splat(builder, value, w):
    """<w x value.type> with every lane ``value``."""
    undef = ir.Constant(ir.VectorType(value.type, w), ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(ir.IntType(32), w), [0] * w))


def _lane_mask(builder, n, w):
    """<w x i1>: lane l is on when l < n (n an int64)."""
    i64 = ir.IntType(64)
    lanes = ir.Constant(ir.VectorType(i64, w), [ir.Constant(i64, i) for i in range(w)])
    return builder.icmp_signed("<", lanes, _splat(builder, n, w))


def _vector_at(context, builder, signature, args, nidx):
    """(pointer to the W-lane vector at ary[idx...], element alignment) for an intrinsic
    whose first argument is the array and whose next ``nidx`` arguments index it
    (no bounds check, no wraparound)."""
    aryty = signature.args[0]
    idx = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:1 + nidx], signature.args[1:1 + nidx])]
    array = context.make_array(aryty)(context, builder, args[0])
    ptr = cgutils.get_item_pointer(context, builder, aryty, array, idx, wraparound=False)
    vec = context.get_value_type(Vector(aryty.dtype))
    return builder.bitcast(ptr, vec.as_pointer()), ir.Constant(ir.IntType(32), aryty.dtype.bitwidth // 8)


def _mask(context, builder, signature, args, k, ptr):
    """The lane mask (lane < n) for the count n in argument k."""
    n = context.cast(builder, args[k], signature.args[k], types.int64)
    return _lane_mask(builder, n, ptr.type.pointee.count)


def _bits(vec):
    return 32 if vec.element == ir.FloatType() else 64


def _masked_intrinsic(builder, name, ptr):
    """llvm.masked.load / llvm.masked.store for the vector ``ptr`` points to."""
    vec = ptr.type.pointee
    mask = ir.VectorType(ir.IntType(1), vec.count)
    if name == "load":
        fnty = ir.FunctionType(vec, [ptr.type, ir.IntType(32), mask, vec])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [vec, ptr.type, ir.IntType(32), mask])
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{name}.v{vec.count}f{_bits(vec)}.p0")


def _contiguous_rows(aryty, ndim):
    if not isinstance(aryty, types.Array) or aryty.ndim != ndim or aryty.layout != "C":
        raise TypingError(f"simd: a C-contiguous {ndim}-d array expected, got {aryty}")
    _check_float(aryty.dtype)


def _vector_of(aryty, v, name):
    _contiguous_rows(aryty, 1)
    if not isinstance(v, Vector) or v.dtype != aryty.dtype:
        raise TypingError(f"simd.{name}: a Vector of {aryty.dtype} expected, got {v}")


@intrinsic
def load(typingctx, ary, i, r):
    """ary[i, r:r + W] as a vector (ary C-contiguous 2-d; all W elements must exist)."""
    _contiguous_rows(ary, 2)
    sig = Vector(ary.dtype)(ary, i, r)

    def codegen(context, builder, signature, args):
        ptr, align = _vector_at(context, builder, signature, args, 2)
        return builder.load(ptr, align=align.constant)

    return sig, codegen


@intrinsic
def load_first(typingctx, ary, i, r, n):
    """ary[i, r:r + n] in the first n lanes (n < W), zeros after; reads nothing beyond r + n."""
    _contiguous_rows(ary, 2)
    sig = Vector(ary.dtype)(ary, i, r, n)

    def codegen(context, builder, signature, args):
        ptr, align = _vector_at(context, builder, signature, args, 2)
        vec = ptr.type.pointee
        zero = ir.Constant(vec, [ir.Constant(vec.element, 0.0)] * vec.count)
        mask = _mask(context, builder, signature, args, 3, ptr)
        return builder.call(_masked_intrinsic(builder, "load", ptr), [ptr, align, mask, zero])

    return sig, codegen


@intrinsic
def store(typingctx, ary, r, v):
    """ary[r:r + W] = v (ary C-contiguous 1-d)."""
    _vector_of(ary, v, "store")
    sig = types.void(ary, r, v)

    def codegen(context, builder, signature, args):
        ptr, align = _vector_at(context, builder, signature, args, 1)
        builder.store(args[2], ptr, align=align.constant)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def store_first(typingctx, ary, r, v, n):
    """ary[r:r + n] = the first n lanes of v (n < W); writes nothing beyond r + n."""
    _vector_of(ary, v, "store_first")
    sig = types.void(ary, r, v, n)

    def codegen(context, builder, signature, args):
        ptr, align = _vector_at(context, builder, signature, args, 1)
        mask = _mask(context, builder, signature, args, 3, ptr)
        builder.call(_masked_intrinsic(builder, "store", ptr), [args[2], ptr, align, mask])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def splat(typingctx, x):
    """A vector with every lane x (float32 or float64)."""
    _check_float(x)
    sig = Vector(x)(x)

    def codegen(context, builder, signature, args):
        return _splat(builder, args[0], signature.return_type.width)

    return sig, codegen


def _binary(op):
    @intrinsic
    def binary(typingctx, a, b):
        if not isinstance(a, Vector) or a != b:
            raise TypingError(f"simd: two Vectors of one dtype expected, got {a}, {b}")

        def codegen(context, builder, signature, args):
            return getattr(builder, op)(args[0], args[1])

        return a(a, b), codegen

    return binary


sub = _binary("fsub")
sub.__doc__ = "a - b, lane by lane."
mul = _binary("fmul")
mul.__doc__ = "a * b, lane by lane."


def _fused(negate):
    @intrinsic
    def fused(typingctx, a, b, c):
        if not isinstance(a, Vector) or not a == b == c:
            raise TypingError(f"simd: three Vectors of one dtype expected, got {a}, {b}, {c}")

        def codegen(context, builder, signature, args):
            a, b, c = args
            if not FUSED:
                product = builder.fmul(a, b)
                return builder.fsub(c, product) if negate else builder.fadd(product, c)
            vec = a.type
            fnty = ir.FunctionType(vec, [vec, vec, vec])
            fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.v{vec.count}f{_bits(vec)}")
            return builder.call(fn, [builder.fneg(a) if negate else a, b, c])

        return a(a, b, c), codegen

    return fused


fmadd = _fused(False)
fmadd.__doc__ = "a * b + c, with one rounding where the target fuses (:data:`FUSED`)."
fnmadd = _fused(True)
fnmadd.__doc__ = "c - a * b, with one rounding where the target fuses (:data:`FUSED`)."
