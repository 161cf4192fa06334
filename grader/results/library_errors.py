"""What an error NumPy, torch or Python raised inside the student's code means, said in the
grader's words: a dtype or shape that did not fit, an index past an axis's end, an array where
one number was wanted.

A hidden test's student copy withholds the exception's text (it may quote the hidden inputs:
``grader.results.visibility``), which leaves the student a type and a line: a ``RuntimeError``
at ``out @ W_o.T + b_o`` says nothing of which of a dozen things went wrong. The hint is read
here, in the trusted process, from the text the worker sent, and is one of the fixed texts below:
it names no size, dtype or index, so it carries nothing of the inputs. A student's own exception
that spells a library's words gets the same fixed text, which tells the student no more than the
exception's type already does.
"""

from __future__ import annotations

import re

# Each entry: the beginnings of the libraries' messages (one pattern, matched at the start of
# the message's first line), and what they mean.
_DTYPE = (
    "two tensors of different dtypes met in one operation (float32 with float64, say): a tensor "
    "your code made does not have the inputs' dtype. Make new tensors from the inputs "
    "(torch.zeros_like(x), x.new_zeros(shape), or dtype=x.dtype); torch.tensor of Python floats "
    "is float32, and torch.from_numpy of a NumPy array keeps its float64"
)
_CAST = (
    "an in-place step (+=, *=, out=) would store fractional values in an integer array or "
    "tensor: make the one you accumulate into a float one (np.zeros(n) is float; np.zeros_like "
    "of an integer array, or of indices, is not)"
)
_DEVICE = (
    "a tensor your code made is on another device than the inputs (the CPU while they are on "
    "the GPU): make new tensors with device=x.device (torch.zeros_like(x), x.new_zeros(shape))"
)
_MATMUL = (
    "the sizes of a matrix product did not fit: a @ b needs a's last size to equal b's "
    "second-to-last. Compare each operand's shape with the statement's, and transpose (.T) a "
    "matrix whose layout differs"
)
_BROADCAST = (
    "two arrays' shapes did not broadcast, in an elementwise operation or a value assigned "
    "into a slice (pe[:, 1::2] = …): shapes are matched from the last axis, and each pair of "
    "sizes must be equal or 1. A value per row, of shape (n,), meets an (n, d) array as "
    "v[:, None]; keepdims=True keeps the axis a sum or mean takes away"
)
_STORE = (
    "a value did not fit where it was stored: an in-place step (x += y) whose result would be "
    "larger than x, or an assignment (out[i] = row, out[mask] = v) of another shape than the "
    "place it fills. Check both shapes; make the array you fill with its final shape first"
)
_RESHAPE = (
    "a reshape asked for another number of elements than the array holds: the new shape's sizes "
    "must multiply to the old one's. Take the sizes from the array's own shape rather than from "
    "constants, and give -1 for the one size to work out"
)
_VIEW = (
    "view() needs a tensor laid out in one piece, and after a transpose or permute it is not: "
    "use .reshape(...), or .contiguous().view(...)"
)
_JOIN = (
    "the pieces joined by a concatenate or stack differ in size on an axis other than the one "
    "they are joined along (stack needs equal shapes): check each piece's shape, and the axis"
)
_AXIS = (
    "an axis (dim) was named that the array does not have: axes count from 0, or from the end "
    "with negative numbers (-1 is the last), which stays right when a batch axis is in front"
)
_MASK_INDEX = (
    "a boolean mask used as an index must have the indexed array's own shape: indexing does not "
    "broadcast it. Keep the shape with torch.where(mask, x, fill) or x.masked_fill(~mask, fill) "
    "(np.where for NumPy), or broadcast the mask first (mask.expand_as(x))"
)
_OUT_OF_BOUNDS = (
    "an index went past the end of an axis: indices run from 0 to size − 1. Look for an "
    "off-by-one (range(n + 1), t + 1 at the last step) or an index taken from another axis's "
    "size"
)
_INDEX_VECTOR = (
    "index_add, index_select and index_copy take a vector of ids (1-D), one per row of the "
    "values, and scatter and gather an index with as many axes as the tensor: flatten the ids "
    "(ids.reshape(-1)) and the values to match (dout.reshape(-1, D)), or expand the index "
    "(index.unsqueeze(1).expand_as(values))"
)
_INDEX_TYPE = (
    "an index or a size was a float, where only integers (or boolean masks) may stand: n / 2 is "
    "a float in Python 3; use n // 2 or int(...), and keep index arrays integer (.astype(int), "
    ".long())"
)
_AMBIGUOUS = (
    "an if, while, and, or, not, or Python's max or min met an array of several values, which "
    "has no single truth value: work elementwise with np.where / torch.where and np.maximum / "
    "torch.maximum, or ask .any() or .all()"
)
_SCALAR = (
    "an array of several values stood where one number is needed (float(x), int(x), math.exp(x), "
    "one element of a new array or tensor): use the array functions (np.exp, torch.exp, "
    "torch.stack) or take one element first"
)
_INT_FLOAT_OP = (
    "a floating-point operation (mean, softmax, a power of -1) was taken of an integer array or "
    "tensor: convert it first (x.float(), x.to(other.dtype), x.astype(float)); counts and sums "
    "of booleans are integers"
)
_BOOL_MASK = (
    "a mask must be a boolean tensor: make it with a comparison (x > 0, ids == pad) or .bool()"
)
_LEAF_IN_PLACE = (
    "your code changed an input in place (x += …, x[...] = …, x.mul_(…)), and the test tracks "
    "that input's gradient: compute into a new tensor (x = x + …, x.clone()) and leave the "
    "inputs as they are"
)
_SAVED_IN_PLACE = (
    "a tensor the gradient needs was changed in place after it was used: replace that in-place "
    "step (+=, [...] =, a method whose name ends in _) by one that makes a new tensor"
)
_THROUGH_NUMPY = (
    "a torch exercise went through NumPy (an np. function on a tensor, or .numpy()), which "
    "cannot carry a gradient: use torch's own functions (torch.exp, torch.where, …) on tensors"
)
_NOT_TENSOR = (
    "a torch function was given a NumPy array or a list: torch functions take tensors; keep to "
    "tensors throughout (torch.as_tensor(a, dtype=x.dtype) converts one)"
)
_NONE = (
    "a value was None where your code used it as an array or a number: an optional argument "
    "left out (mask=None, lengths=None) is None, so test it with `if mask is not None:` before "
    "using it; or a function of yours returned nothing (a missing return)"
)
_UNPACK = (
    "a line that takes several values apart (a, b = …) got another number of them than it "
    "names: check what the call on that line returns (a function of yours returns all its "
    "outputs as one tuple, in the statement's order)"
)
_MIXED = (
    "a NumPy array and a torch tensor met in one operation: keep to the exercise's library "
    "throughout, and make new arrays with it (np.zeros_like(x) for NumPy, torch.zeros_like(x) "
    "for torch)"
)
_NO_LOOP = (
    "a NumPy operation met values it cannot compute with: strings, None, dicts or other "
    "objects, or an array of them (dtype object or str). Check what each operand holds"
)
_NUMPY_NAME_ON_TENSOR = (
    "a NumPy name was used on a torch tensor, whose names differ: x.to(torch.float64) or "
    "x.double() for astype, x.clone() for copy, x.numel() for size, x.unsqueeze(i) or x[:, None] "
    "to add an axis, and dtype=x.dtype rather than a NumPy dtype"
)
_TORCH_NAME_ON_ARRAY = (
    "a torch name was used on a NumPy array, whose names differ: axis= for dim=, keepdims= for "
    "keepdim=, x.astype(float) for .float() or .double(), x.copy() for clone, x.ndim for dim(), "
    "x[:, None] or np.expand_dims(x, i) for unsqueeze"
)
_NOT_AN_ARRAY = (
    "a Python list, tuple or number stood where an array or tensor was wanted: it has no shape "
    "and no array methods. Make the array (np.array, np.stack, torch.stack, torch.tensor) "
    "before using it as one"
)
_OPERATOR = (
    "an operator was used on values that do not define it for each other. A class of yours needs a "
    "method for each operator used on it (__add__, __sub__, __mul__, __truediv__, __matmul__, "
    "__pow__, __neg__), and, for a number or an array on its left (2 * x, 1 - x), the reflected "
    "one (__radd__, __rsub__, __rmul__, __rtruediv__), which Python calls next; a list or a "
    "tuple has no arithmetic with numbers: make an array of it"
)
_LIST_AS_ARRAY = (
    "a Python list was indexed as an array is, with two indices (x[i, j]) or with an array or "
    "list of indices: a list takes one int or slice at a time (x[i][j]). Make an array of it "
    "(np.array, np.stack, torch.stack) to index it that way; and where one integer is wanted "
    "(range(n), a size), an array is none: int(n) of a one-element array"
)
_NOT_A_SEQUENCE = (
    "a single number stood where a list, tuple or array was wanted (looped over, indexed, "
    "unpacked or measured with len): check that value, e.g. one id where a list of them (a "
    "batch) is wanted, or one output where a function returns several"
)
_MEMORY = (
    "an array or tensor was asked for that is larger than the memory grading allows: look for "
    "one far larger than the inputs (a full n × n matrix of pairs, a shape built from values "
    "rather than sizes, copies kept in a list at every step) and compute in pieces"
)
_SINGULAR = (
    "the matrix your code inverted or solved with is singular: its columns are linearly "
    "dependent (a repeated or constant feature, or fewer samples than features). Solve with "
    "np.linalg.solve rather than inv where the matrix is regular, and with np.linalg.lstsq or "
    "pinv, or the statement's ridge term, where it may not be"
)

_TABLE: tuple[tuple[str, str], ...] = (
    (r"expected m1 and m2 to have the same dtype|expected scalar type \w+ but found \w+|"
     r"[Ff]ound dtype \w+ but expected \w+|expected both vectors to have same dtype|"
     r"\w+\(\): self \(\w+\) and \w+ \(\w+\) must have the same scalar type|"
     r"\w+\(\): Expected self\.dtype to be equal to src\.dtype|"
     r"Index put requires the source and destination dtypes match|"
     r"Expected object of scalar type \w+ but got scalar type \w+", _DTYPE),
    (r"result type \w+ can't be cast to the desired output type \w+|"
     r"Cannot cast ufunc '\w+' output from dtype", _CAST),
    (r"Expected all tensors to be on the same device", _DEVICE),
    (r"mat1 and mat2 shapes cannot be multiplied|"
     r"Expected size for first two dimensions of batch2 tensor|size mismatch, got|"
     r"matmul: Input operand \d has a mismatch in its core dimension|"
     r"shapes \([\d, ]*\) and \([\d, ]*\) not aligned|"
     r"both arguments to matmul need to be at least 1D|"
     r"matmul: Input operand \d does not have enough dimensions|"
     r"einsum\(\): subscript \w has size \d+ for operand \d+ which does not broadcast|"
     r"einsum\(\): operands do not broadcast", _MATMUL),
    (r"The size of tensor a \(\d+\) must match the size of tensor b \(\d+\)|"
     r"operands could not be broadcast together|"
     r"The expanded size of the tensor \(\d+\) must match the existing size", _BROADCAST),
    (r"non-broadcastable output operand with shape|"
     r"could not broadcast input array from shape|"
     r"shape mismatch: value tensor of shape \[[\d, ]*\] cannot be broadcast to indexing result|"
     r"output with shape \[[\d, ]*\] doesn't match the broadcast shape", _STORE),
    (r"shape '\[[-\d, ]*\]' is invalid for input of size|cannot reshape array of size", _RESHAPE),
    (r"view size is not compatible with input tensor's size and stride", _VIEW),
    (r"Sizes of tensors must match except in dimension|"
     r"stack expects each tensor to be equal size|"
     r"all the input array dimensions except for the concatenation axis must match|"
     r"all input arrays must have the same shape|"
     r"all the input arrays must have same number of dimensions", _JOIN),
    (r"Dimension out of range \(expected to be in range of|"
     r"axis -?\d+ is out of bounds for array of dimension", _AXIS),
    (r"The shape of the mask \[[\d, ]*\] at index \d+ does not match the shape of the indexed|"
     r"boolean index did not match indexed array along (?:axis|dimension)", _MASK_INDEX),
    (r"index -?\d+ is out of bounds for (?:dimension|axis) \d+ with size \d+|"
     r"index out of range in self", _OUT_OF_BOUNDS),
    (r"\w+\(\): Index is supposed to be a vector|"
     r"\w+\(\): Number of indices \(\d+\) should be equal to source\.size\(dim\)|"
     r"Index tensor must have the same number of dimensions as \w+ tensor", _INDEX_VECTOR),
    (r"tensors used as indices must be long, int, byte or bool tensors|"
     r"arrays used as indices must be of integer \(or boolean\) type|"
     r"only integers, slices \(`:`\), ellipsis|"
     r"(?:list|tuple) indices must be integers or slices, not float|"
     r"'float' object cannot be interpreted as an integer|"
     r"expected a sequence of integers or a single integer, got '|"
     r"\w+\(\): argument 'size' \(position \d+\) must be tuple of ints, but found element of "
     r"type float|\w+\(\): argument 'size' \(position \d+\) must be tuple of ints, not float|"
     r"slice indices must be integers", _INDEX_TYPE),
    (r"Boolean value of Tensor with more than one value is ambiguous|"
     r"The truth value of an array with more than one element is ambiguous", _AMBIGUOUS),
    (r"only one element tensors can be converted to Python scalars|"
     r"only (?:length-1|size-1|0-dimensional) arrays can be converted to Python scalars|"
     r"setting an array element with a sequence", _SCALAR),
    (r"\w+\(\): could not infer output dtype\. Input dtype must be either a floating point|"
     r"Integers to negative integer powers are not allowed|"
     r"\"?\w+\"? not implemented for '(?:Long|Int|Short|Char|Byte|Bool)'", _INT_FLOAT_OP),
    (r"masked_fill_? only supports boolean masks|where expected condition to be a boolean tensor",
     _BOOL_MASK),
    (r"a leaf Variable that requires grad is being used in an in-place operation", _LEAF_IN_PLACE),
    (r"one of the variables needed for gradient computation has been modified by an inplace "
     r"operation", _SAVED_IN_PLACE),
    (r"Can't call numpy\(\) on Tensor that requires grad", _THROUGH_NUMPY),
    (r"\w+\(\): argument '\w+' \(position \d+\) must be Tensor, not (?:numpy\.ndarray|list)",
     _NOT_TENSOR),
    (r"bad operand type for unary [~+-]: 'NoneType'|"
     r"unsupported operand type\(s\) for [^:]{1,6}: (?:'NoneType' and|.{1,60} and 'NoneType')|"
     r"'NoneType' object is not (?:subscriptable|iterable|callable)|cannot unpack non-iterable NoneType"
     r"|"
     r"'NoneType' object has no attribute|"
     r"(?:\w+\(\): )?argument '\w+' \(position \d+\) must be Tensor, not NoneType", _NONE),
    (r"not enough values to unpack \(expected \d+, got \d+\)|"
     r"too many values to unpack \(expected \d+", _UNPACK),
    (r"unsupported operand type\(s\) for [^:]{1,6}: '(?:numpy\.ndarray|Tensor)' and "
     r"'(?:Tensor|numpy\.ndarray)'", _MIXED),
    (r"unsupported operand type\(s\) for [^:]{1,12}: '[\w.]{1,80}' and '[\w.]{1,80}'|"
     r"bad operand type for unary [-+~]: '[\w.]{1,80}'|"
     r"can't multiply sequence by non-int of type", _OPERATOR),
    (r"(?:list|tuple) indices must be integers or slices, not (?:tuple|list|numpy\.ndarray|"
     r"Tensor)|only integer scalar arrays can be converted to a scalar index", _LIST_AS_ARRAY),
    (r"ufunc '\w+' did not contain a loop with signature matching types|"
     r"ufunc '\w+' not supported for the input types|"
     r"loop of ufunc does not support argument \d+ of type", _NO_LOOP),
    (r"'Tensor' object has no attribute '(?:astype|copy|fill|ptp|newaxis)'|"
     r"\w+\(\): argument 'dtype' must be torch\.dtype, not type", _NUMPY_NAME_ON_TENSOR),
    (r"'numpy\.ndarray' object has no attribute '(?:unsqueeze|float|double|long|int|bool|"
     r"clone|dim|numel|detach|permute|contiguous|masked_fill|expand|expand_as|t|softmax|exp|"
     r"log|abs|sqrt|relu|sigmoid|tanh|to|cpu|cuda|requires_grad|grad|backward)'|"
     r"\w+\(\) got an unexpected keyword argument '(?:dim|keepdim)'", _TORCH_NAME_ON_ARRAY),
    (r"'(?:list|tuple|float|int)' object has no attribute '\w+'", _NOT_AN_ARRAY),
    (r"'(?:int|float|numpy\.int64|numpy\.float64)' object is not (?:iterable|subscriptable)|"
     r"cannot unpack non-iterable (?:int|float) object|"
     r"object of type '(?:int|float)' has no len\(\)", _NOT_A_SEQUENCE),
    (r"Unable to allocate [\d.]+ \w?i?B for an array with shape|"
     r"\[enforce fail at alloc_cpu\.cpp:\d+\].*can't allocate memory|"
     r"CUDA out of memory\.", _MEMORY),
    (r"Singular matrix", _SINGULAR),
)
_PATTERNS = tuple((re.compile(pattern), text) for pattern, text in _TABLE)
_LONGEST = 400  # a library's first line is short; a longer one is read no further


# Errors whose text is only a value (a KeyError's is the key): told by their type.
_BY_TYPE = {
    "KeyError": (
        "a dict was read at a key it does not hold: one your code reads before anything was "
        "stored there (a state that starts as {} on the first call), or a key spelt otherwise "
        "than where it was stored; dict.get(key, default) reads with a default"
    ),
}


def hint(message: str, type_name: str = "") -> str:
    """What the library error whose text is ``message`` (of the type named ``type_name``)
    means, in the grader's words; "" where its first line begins as none of the libraries'
    messages known here and its type tells nothing."""
    first = message.split("\n", 1)[0][:_LONGEST]
    for pattern, text in _PATTERNS:
        if pattern.match(first):
            return text
    return _BY_TYPE.get(type_name, "")


__all__ = ["hint"]
