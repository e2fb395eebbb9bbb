"""Explicit 64-byte vectors for the wide Mahalanobis solvers (:mod:`.gaussian`).

Why not leave it to LLVM's loop vectoriser, as everywhere else: the unrolled
solvers multiply by ~150 loop-invariant factor entries.  The vectoriser hoists
each one out of the loop already broadcast to a full vector, more than the 32
vector registers hold, so every multiply-add reloads a 64-byte vector from a
stack slot: one 64-byte load per operation made the loop load-bound (float64
~160 cycles per 8 rows for 152 multiply-adds; float32 ~190 per 16 rows).
Written with these operations, the factor entries are scalars loaded inside
the loop and the broadcast folds into the multiply-add as a 4/8-byte memory
operand (``{1to16}``), which costs no vector load slot.  Measured (d = 16, one
thread, 512-row tile): float64 6.6 -> 5.9 ns per row and component, float32
3.9 -> 3.1 ns; a C version with intrinsics (gcc -O2 -march=native) ran 5.4 and
2.8 ns.

``Vector(dtype)`` is a Numba type lowered to LLVM ``<W x dtype>`` with
W = 64 bytes / itemsize (16 float32, 8 float64).  The arithmetic is exactly
IEEE: ``fnmadd``/``fmadd`` are single-rounding fused multiply-adds (``llvm.fma``),
``sub``/``mul`` plain, so the results equal those of the scalar code that
LLVM contracts the same way.
"""
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model

#: Bytes per vector: one AVX-512 register, one cache line.
VECTOR_BYTES = 64


class Vector(types.Type):
    """W lanes of a float dtype, W = 64 bytes / itemsize."""

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
            vec = args[0].type
            fnty = ir.FunctionType(vec, [vec, vec, vec])
            fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.v{vec.count}f{_bits(vec)}")
            x = builder.fneg(args[0]) if negate else args[0]
            return builder.call(fn, [x, args[1], args[2]])

        return a(a, b, c), codegen

    return fused


fmadd = _fused(False)
fmadd.__doc__ = "a * b + c with one rounding."
fnmadd = _fused(True)
fnmadd.__doc__ = "c - a * b with one rounding."
