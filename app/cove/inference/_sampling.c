/*
 * One sampling step for Cove's decode loop (cove/inference/decode.py), in C.
 *
 * llama_sampler_sample() copies every logit into a llama_token_data array (262,144 entries,
 * 3 MB, for Gemma 3) and partially sorts all of it, once per generated token. Cove's chain
 * starts with a top-k cut anyway, so this step does that cut first, straight over the float
 * logits (1 MB read, compared four at a time), and hands the chain only the best k tokens,
 * sorted, as llama.cpp's own top-k would: the chain then skips its cut and gives the same
 * token. About a third of the time of llama_sampler_sample with a large vocabulary.
 *
 * The llama.cpp functions come in as addresses (ctypes knows them), so this file links
 * against nothing but Python and needs no llama.cpp headers: the two structs below are
 * llama.h's llama_token_data and llama_token_data_array.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64)
#include <emmintrin.h>
#define COVE_SSE2 1
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define COVE_NEON 1
#endif

typedef struct {
    int32_t id;
    float logit;
    float p;
} token_data;

typedef struct {
    token_data *data;
    size_t size;
    int64_t selected;
    bool sorted;
} token_data_array;

typedef float *(*get_logits_fn)(void *ctx, int32_t i);
typedef void (*apply_fn)(void *chain, token_data_array *cur);
typedef void (*accept_fn)(void *chain, int32_t token);

/* Heap order: the root is the worst kept token (lowest logit, then highest id). */
static int worse(const token_data *a, const token_data *b)
{
    return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

static void sift_down(token_data *heap, int k, int i)
{
    for (;;) {
        int left = 2 * i + 1, right = left + 1, low = i;
        if (left < k && worse(&heap[left], &heap[low]))
            low = left;
        if (right < k && worse(&heap[right], &heap[low]))
            low = right;
        if (low == i)
            return;
        token_data t = heap[i];
        heap[i] = heap[low];
        heap[low] = t;
        i = low;
    }
}

static void offer(token_data *heap, int k, int32_t id, float logit)
{
    token_data candidate = {id, logit, 0.0f};
    if (worse(&heap[0], &candidate)) {
        heap[0] = candidate;
        sift_down(heap, k, 0);
    }
}

/* Best first: highest logit, then lowest id (a fixed order for ties). */
static int best_first(const void *a, const void *b)
{
    const token_data *x = a, *y = b;
    return worse(x, y) - worse(y, x);
}

/* Whether any of logits[0..16) is above floor; NaN never is. */
static int any_above(const float *logits, float floor)
{
#if defined(COVE_SSE2)
    __m128 f = _mm_set1_ps(floor);
    __m128 hit = _mm_or_ps(
        _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits), f), _mm_cmpgt_ps(_mm_loadu_ps(logits + 4), f)),
        _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits + 8), f), _mm_cmpgt_ps(_mm_loadu_ps(logits + 12), f)));
    return _mm_movemask_ps(hit) != 0;
#elif defined(COVE_NEON)
    float32x4_t f = vdupq_n_f32(floor);
    uint32x4_t hit = vorrq_u32(
        vorrq_u32(vcgtq_f32(vld1q_f32(logits), f), vcgtq_f32(vld1q_f32(logits + 4), f)),
        vorrq_u32(vcgtq_f32(vld1q_f32(logits + 8), f), vcgtq_f32(vld1q_f32(logits + 12), f)));
    return vmaxvq_u32(hit) != 0;
#else
    for (int j = 0; j < 16; j++)
        if (logits[j] > floor)
            return 1;
    return 0;
#endif
}

/* The best k of n logits into out[0..k), best first; returns how many (min(k, n)). */
static int top_k(const float *logits, int n, int k, token_data *out)
{
    if (k > n)
        k = n;
    if (k <= 0)
        return 0;
    for (int i = 0; i < k; i++) {
        out[i].id = i;
        out[i].logit = logits[i];
        out[i].p = 0.0f;
    }
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(out, k, i);
    int i = k;
    for (; i + 16 <= n; i += 16) {
        if (!any_above(logits + i, out[0].logit))
            continue;
        for (int j = i; j < i + 16; j++)
            offer(out, k, j, logits[j]);
    }
    for (; i < n; i++)
        offer(out, k, i, logits[i]);
    qsort(out, (size_t)k, sizeof(token_data), best_first);
    return k;
}

static PyObject *py_top_k(PyObject *self, PyObject *args)
{
    unsigned long long logits, out;
    int n, k;
    (void)self;
    if (!PyArg_ParseTuple(args, "KiiK", &logits, &n, &k, &out))
        return NULL;
    if (!logits || !out)
        return PyErr_Format(PyExc_ValueError, "null address");
    int size = top_k((const float *)(uintptr_t)logits, n, k, (token_data *)(uintptr_t)out);
    return PyLong_FromLong(size);
}

/*
 * sample(functions, ctx, chain, n_vocab, k, buffer) -> token
 *
 * functions: the addresses of llama_get_logits_ith, llama_sampler_apply and
 * llama_sampler_accept; buffer: room for k llama_token_data. The chain sees the best k
 * tokens of the last logits, sorted, picks one, and is told which (for its penalties).
 * Returns -1 when the chain selected nothing, -2 when the context had no logits.
 */
static PyObject *py_sample(PyObject *self, PyObject *args)
{
    unsigned long long get_logits, apply, accept, ctx, chain, buffer;
    int n_vocab, k;
    (void)self;
    if (!PyArg_ParseTuple(args, "(KKK)KKiiK", &get_logits, &apply, &accept, &ctx, &chain,
                          &n_vocab, &k, &buffer))
        return NULL;
    if (!get_logits || !apply || !accept || !ctx || !chain || !buffer || k <= 0)
        return PyErr_Format(PyExc_ValueError, "null address or k <= 0");
    /* The GIL stays held: the step takes a tenth of a millisecond, and giving the GIL up
     * here would let the GUI thread take it and make the worker wait to get it back. */
    long token;
    const float *logits = ((get_logits_fn)(uintptr_t)get_logits)((void *)(uintptr_t)ctx, -1);
    if (!logits) {
        token = -2;
    } else {
        token_data_array cur;
        cur.data = (token_data *)(uintptr_t)buffer;
        cur.size = (size_t)top_k(logits, n_vocab, k, cur.data);
        cur.selected = -1;
        cur.sorted = true;
        ((apply_fn)(uintptr_t)apply)((void *)(uintptr_t)chain, &cur);
        if (cur.selected < 0 || (size_t)cur.selected >= cur.size) {
            token = -1;
        } else {
            token = cur.data[cur.selected].id;
            ((accept_fn)(uintptr_t)accept)((void *)(uintptr_t)chain, (int32_t)token);
        }
    }
    return PyLong_FromLong(token);
}

static PyMethodDef methods[] = {
    {"top_k", py_top_k, METH_VARARGS,
     "top_k(logits, n, k, out) -> count: the best k of n float logits at address `logits`, "
     "best first, into the llama_token_data array at address `out`."},
    {"sample", py_sample, METH_VARARGS,
     "sample((get_logits, apply, accept), ctx, chain, n_vocab, k, buffer) -> token."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sampling",
    "One sampling step in C: a top-k cut over the raw logits, then llama.cpp's chain.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__sampling(void)
{
    return PyModule_Create(&module);
}
