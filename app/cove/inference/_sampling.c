/*
 * One sampling step for Cove's decode loop (cove/inference/decode.py), in C.
 *
 * llama_sampler_sample() copies every logit into a llama_token_data array (262,144 entries,
 * 3 MB, for Gemma 3) and partially sorts all of it, once per generated token. Cove's chain
 * starts with a top-k cut anyway, so this step does that cut first, straight over the float
 * logits (1 MB read, compared eight at a time with AVX2, else four), and hands the chain
 * only the best k tokens, sorted, as llama.cpp's own top-k would: the chain then skips its
 * cut and gives the same token. About a third of the time of llama_sampler_sample with a
 * large vocabulary.
 *
 * run() is the reply's token loop itself (sample, check, decode) for up to an interval, so
 * that between two llama_decode calls, while llama.cpp's other thread waits, no Python code
 * runs, and none needs the GIL; decode.py turns the tokens it returns into text.
 *
 * The llama.cpp functions come in as addresses (ctypes knows them), so this file links
 * against nothing but Python and needs no llama.cpp headers: the structs below are llama.h's
 * llama_token_data, llama_token_data_array and llama_batch (decode.py checks the last one
 * against llama-cpp-python's own before it uses run()).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#endif

#if defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64)
#include <emmintrin.h>
#define COVE_SSE2 1
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define COVE_NEON 1
#endif

/* On x86-64 built by GCC or Clang the scan also has an AVX2 version, chosen at run time
 * (the build targets plain x86-64, whose SSE2 compares four floats at a time). */
#if defined(COVE_SSE2) && defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define COVE_AVX2 1
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

typedef struct {
    int32_t n_tokens;
    int32_t *token;
    float *embd;
    int32_t *pos;
    int32_t *n_seq_id;
    int32_t **seq_id;
    int8_t *logits;
} batch;

typedef float *(*get_logits_fn)(void *ctx, int32_t i);
typedef void (*apply_fn)(void *chain, token_data_array *cur);
typedef void (*accept_fn)(void *chain, int32_t token);
typedef int32_t (*sample_fn)(void *chain, void *ctx, int32_t i);
typedef int32_t (*decode_fn)(void *ctx, batch b);
typedef bool (*is_eog_fn)(const void *vocab, int32_t token);

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

#ifdef COVE_AVX2
static int have_avx2;  /* set once, when the module loads */

/* top_k's scan with AVX2, from logits[i] while 32 remain: each block of 32 none of which
 * beats the worst kept is skipped whole (NaN never does). Returns where it stopped. Over
 * Gemma 3's 262,144 logits in cache, 14 us against 21 four at a time (k = 1), 26 against 32
 * (k = 104); right after llama_decode, where the logits come from memory, about 5 us less. */
__attribute__((target("avx2")))
static int scan_avx2(const float *logits, int i, int n, token_data *heap, int k)
{
    for (; i + 32 <= n; i += 32) {
        __m256 f = _mm256_set1_ps(heap[0].logit);
        const float *x = logits + i;
        __m256 hit = _mm256_or_ps(
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x), f, _CMP_GT_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(x + 8), f, _CMP_GT_OQ)),
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + 16), f, _CMP_GT_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(x + 24), f, _CMP_GT_OQ)));
        if (!_mm256_movemask_ps(hit))
            continue;
        for (int j = i; j < i + 32; j++)
            offer(heap, k, j, logits[j]);
    }
    return i;
}
#endif

/* The best k of n logits into out[0..k), best first (highest logit, then lowest id);
 * returns how many (min(k, n)). `wide`: as py_top_k says. */
static int top_k(const float *logits, int n, int k, token_data *out, int wide)
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
#ifdef COVE_AVX2
    if (wide && have_avx2)
        i = scan_avx2(logits, i, n, out, k);
#else
    (void)wide;
#endif
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
    int n, k, wide = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "KiiK|p", &logits, &n, &k, &out, &wide))
        return NULL;
    if (!logits || !out)
        return PyErr_Format(PyExc_ValueError, "null address");
    int size = top_k((const float *)(uintptr_t)logits, n, k, (token_data *)(uintptr_t)out, wide);
    return PyLong_FromLong(size);
}

typedef struct {
    get_logits_fn get_logits;
    apply_fn apply;
    accept_fn accept;
    void *ctx;
    void *chain;
    int n_vocab;
    int k;
    token_data *buffer;
    int32_t *window;  /* the repeat penalty's window (penalize), or NULL */
    float repeat;     /* its penalty */
} step;

/* The longest repeat penalty window the step takes (Cove's is 64 tokens). */
#define WINDOW_MAX 256

/*
 * The repeat penalty, applied before the cut. A chain with a repeat penalty starts
 * top-k(k + window) -> penalties -> top-k(k): the penalty only lowers the logits of the
 * window's tokens, so the best k after it are among the best k + window before it. The step
 * used to cut to those k + 64 (104 for Cove's top-k 40): right after llama_decode, the heap
 * of 104 took 60-75 us a token over Gemma 3's vocabulary against 45 for 40. Instead it now
 * lowers the window's logits in place first, as llama.cpp's penalties sampler would (the
 * same float operations: frequency and presence penalties are 0 in Cove's chain), cuts to
 * the best k of those, puts the logits back, and hands the chain those k tokens with the
 * logits llama.cpp gave: the chain's own penalty step then lowers them exactly as before,
 * and its top-k(k) keeps the same k tokens it would have kept from k + 64.
 *
 * window: [length, tokens held, next slot, tokens...], a ring the step keeps beside the
 * chain's own (decode.py fills it with the history the chain was fed, and the step adds
 * each token it tells the chain of). Returns how many logits it changed; ids and kept
 * record which, and their values before.
 */
static int penalize(float *logits, int n_vocab, const int32_t *window, float repeat,
                    int32_t *ids, float *kept)
{
    int changed = 0;
    for (int i = 0; i < window[1]; i++) {
        int32_t token = window[3 + i];
        int seen = token < 0 || token >= n_vocab;
        for (int j = 0; j < changed && !seen; j++)
            seen = ids[j] == token;
        if (seen)
            continue;
        ids[changed] = token;
        kept[changed++] = logits[token];
        logits[token] = logits[token] <= 0 ? logits[token] * repeat : logits[token] / repeat;
    }
    return changed;
}

/* The window after the chain was told of `token`: it replaces the oldest when full. */
static void remember(int32_t *window, int32_t token)
{
    window[3 + window[2]] = token;
    window[2] = (window[2] + 1) % window[0];
    if (window[1] < window[0])
        window[1]++;
}

/* The next token from the last logits: the best k to the chain, which picks one and is told
 * which (for its penalties). -1 when the chain selected nothing, -2 without logits. */
static long sample_step(const step *st)
{
    float *logits = st->get_logits(st->ctx, -1);
    if (!logits)
        return -2;
    int32_t ids[WINDOW_MAX];
    float kept[WINDOW_MAX];
    int changed = st->window ? penalize(logits, st->n_vocab, st->window, st->repeat, ids,
                                        kept) : 0;
    token_data_array cur;
    cur.data = st->buffer;
    cur.size = (size_t)top_k(logits, st->n_vocab, st->k, cur.data, 1);
    if (changed) {  /* the logits as llama.cpp gave them, to the chain and back in place */
        for (int i = 0; i < changed; i++)
            logits[ids[i]] = kept[i];
        for (size_t i = 0; i < cur.size; i++)
            cur.data[i].logit = logits[cur.data[i].id];
    }
    cur.selected = -1;
    cur.sorted = !changed;  /* best first by the lowered logits, not these */
    st->apply(st->chain, &cur);
    if (cur.selected < 0 || (size_t)cur.selected >= cur.size)
        return -1;
    int32_t token = cur.data[cur.selected].id;
    st->accept(st->chain, token);
    if (st->window)
        remember(st->window, token);
    return token;
}

/* `functions`: the addresses of llama_get_logits_ith, llama_sampler_apply and
 * llama_sampler_accept. k = 0 is allowed only where the caller samples otherwise
 * (`whole_allowed`); with k > 0 the buffer has room for k llama_token_data. `window`: the
 * address of the repeat penalty's window (penalize; 0: the chain's cut allows for it). */
static int parse_step(PyObject *functions, unsigned long long ctx, unsigned long long chain,
                      int n_vocab, int k, unsigned long long buffer, int whole_allowed,
                      unsigned long long window, float repeat, step *st)
{
    unsigned long long get_logits, apply, accept;
    if (!PyArg_ParseTuple(functions, "KKK", &get_logits, &apply, &accept))
        return 0;
    if (!get_logits || !apply || !accept || !ctx || !chain || (k > 0 && !buffer)
            || k < 0 || (k == 0 && !whole_allowed)) {
        PyErr_SetString(PyExc_ValueError, "null address or k out of range");
        return 0;
    }
    st->get_logits = (get_logits_fn)(uintptr_t)get_logits;
    st->apply = (apply_fn)(uintptr_t)apply;
    st->accept = (accept_fn)(uintptr_t)accept;
    st->ctx = (void *)(uintptr_t)ctx;
    st->chain = (void *)(uintptr_t)chain;
    st->n_vocab = n_vocab;
    st->k = k;
    st->buffer = (token_data *)(uintptr_t)buffer;
    st->window = (int32_t *)(uintptr_t)window;
    st->repeat = repeat;
    if (st->window && (k <= 0 || st->window[0] < 1 || st->window[0] > WINDOW_MAX
                       || st->window[1] < 0 || st->window[1] > st->window[0]
                       || st->window[2] < 0 || st->window[2] >= st->window[0])) {
        PyErr_SetString(PyExc_ValueError, "a penalty window needs k > 0 and a valid ring");
        return 0;
    }
    return 1;
}

/*
 * sample(functions, ctx, chain, n_vocab, k, buffer, window=0, repeat=1.0) -> token
 *
 * functions: the addresses of llama_get_logits_ith, llama_sampler_apply and
 * llama_sampler_accept; buffer: room for k llama_token_data; window and repeat: the repeat
 * penalty's window and penalty, for a cut of k made after the penalty (penalize). Returns
 * -1 when the chain selected nothing, -2 when the context had no logits.
 *
 * The GIL stays held: the step takes a tenth of a millisecond, and giving the GIL up here
 * would let the GUI thread take it and make the worker wait to get it back.
 */
static PyObject *py_sample(PyObject *self, PyObject *args)
{
    PyObject *functions;
    unsigned long long ctx, chain, buffer, window = 0;
    int n_vocab, k;
    float repeat = 1.0f;
    step st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OKKiiK|Kf", &functions, &ctx, &chain, &n_vocab, &k, &buffer,
                          &window, &repeat))
        return NULL;
    if (!parse_step(functions, ctx, chain, n_vocab, k, buffer, 0, window, repeat, &st))
        return NULL;
    return PyLong_FromLong(sample_step(&st));
}

/* What run() stopped at (decode.py has the same names). */
enum {
    RUN_INTERVAL = 0,   /* the interval passed: the last token is not decoded yet */
    RUN_END = 1,        /* an end-of-turn or stop token came (not in the tokens) */
    RUN_ROOM = 2,       /* `room` tokens were sampled; the last is not decoded */
    RUN_CANCELLED = 3,  /* the cancel Event was set; the last token is not decoded */
    RUN_FULL = 4,       /* the context is full; the last token is not decoded */
    RUN_DECODE_FAILED = 5,  /* llama_decode failed: the fourth item is what it returned */
    RUN_NO_TOKEN = 6,   /* the chain chose no token */
};

static int32_t decode_one(decode_fn decode, void *ctx, int32_t token)
{
    batch b = {1, &token, NULL, NULL, NULL, NULL, NULL};  /* llama_batch_get_one */
    return decode(ctx, b);
}

/* The system's monotonic clock in seconds: the one time.perf_counter() reads on Linux and
 * Windows (run() adds the offset to perf_counter measured when it starts, so the times it
 * returns are perf_counter's on every system). */
static double monotonic_now(void)
{
#ifdef _WIN32
    LARGE_INTEGER frequency, count;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&count);
    return (double)count.QuadPart / (double)frequency.QuadPart;
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
#endif
}

/* A callable's result as a double (the clock) or a truth value (the cancel Event). */
static int call_double(PyObject *callable, double *out)
{
    PyObject *result = PyObject_CallNoArgs(callable);
    if (!result)
        return 0;
    *out = PyFloat_AsDouble(result);
    Py_DECREF(result);
    return !PyErr_Occurred();
}

static int call_truth(PyObject *callable)
{
    PyObject *result = PyObject_CallNoArgs(callable);
    if (!result)
        return -1;
    int truth = PyObject_IsTrue(result);
    Py_DECREF(result);
    return truth;
}

/* How run() learns of a cancel: a word that CancelEvent.set() writes (read without the
 * GIL), or any other Event's is_set(), called with the GIL taken back for it. */
typedef struct {
    volatile int *word;
    PyObject *is_set;
} cancel_check;

/* 1 cancelled, 0 not, -1 is_set() raised (the GIL is held again when it returns). */
static int cancelled(const cancel_check *cancel, PyThreadState **released)
{
    if (cancel->word)
        return *cancel->word != 0;
    PyEval_RestoreThread(*released);
    int truth = call_truth(cancel->is_set);
    *released = PyEval_SaveThread();
    return truth;
}

/* Appends a new reference (NULL: the error that made it) and drops it. */
static int append_new(PyObject *list, PyObject *item)
{
    if (!item)
        return -1;
    int failed = PyList_Append(list, item);
    Py_DECREF(item);
    return failed;
}

/* The stop tokens (a set of ints) as an array; NULL with an exception set on failure. */
static int32_t *token_array(PyObject *tokens, Py_ssize_t *count)
{
    *count = PySet_GET_SIZE(tokens);
    int32_t *out = PyMem_Malloc(sizeof(int32_t) * (size_t)(*count > 0 ? *count : 1));
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    PyObject *iterator = PyObject_GetIter(tokens), *item;
    Py_ssize_t i = 0;
    if (!iterator) {
        PyMem_Free(out);
        return NULL;
    }
    while ((item = PyIter_Next(iterator)) != NULL) {
        long value = PyLong_AsLong(item);
        Py_DECREF(item);
        if (value == -1 && PyErr_Occurred())
            break;
        if (i < *count)
            out[i++] = (int32_t)value;
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        PyMem_Free(out);
        return NULL;
    }
    *count = i;
    return out;
}

static int listed(const int32_t *tokens, Py_ssize_t count, int32_t token)
{
    for (Py_ssize_t i = 0; i < count; i++)
        if (tokens[i] == token)
            return 1;
    return 0;
}

/*
 * run(functions, ctx, chain, n_vocab, k, buffer, vocab, stop_tokens, pending, room, n_past,
 *     n_ctx, interval, clock, cancel, window=0, repeat=1.0) -> (status, tokens, times, detail)
 *
 * functions: (sample's three addresses, then those of llama_sampler_sample, llama_decode
 * and llama_vocab_is_eog). k = 0
 * samples with llama_sampler_sample (a chain whose first step is not a top-k cut).
 * `pending` (>= 0) is the last call's undecoded token, decoded first; `n_past` is how many
 * tokens the context holds before it. Then: sample a token; stop at an end of turn or a
 * token in stop_tokens; else record it and its time (clock()'s); stop when `room` tokens
 * were sampled, the reply is cancelled, the context is full or `interval` seconds passed
 * since the call began (in that order); else decode it and go on. `detail` is
 * llama_decode's status for RUN_DECODE_FAILED, else how many of `tokens` were decoded.
 * `cancel`: the address of a CancelEvent's word (an int), or an Event's is_set.
 *
 * The whole interval runs without the GIL: while the GUI thread runs Python code (drawing
 * the reply so far), the tokens go on. Only an is_set() takes it back, once a token.
 */
static PyObject *py_run(PyObject *self, PyObject *args)
{
    PyObject *functions, *step_functions, *stop_tokens, *clock, *cancel_object;
    unsigned long long ctx, chain, buffer, vocab, sample, decode_address, is_eog_address;
    unsigned long long window = 0;
    int n_vocab, k, pending, room, n_past, n_ctx;
    float repeat = 1.0f;
    double interval;
    step st;
    cancel_check cancel = {NULL, NULL};
    (void)self;
    if (!PyArg_ParseTuple(args, "OKKiiKKOiiiidOO|Kf", &functions, &ctx, &chain, &n_vocab, &k,
                          &buffer, &vocab, &stop_tokens, &pending, &room, &n_past, &n_ctx,
                          &interval, &clock, &cancel_object, &window, &repeat))
        return NULL;
    if (!PyArg_ParseTuple(functions, "OKKK", &step_functions, &sample, &decode_address,
                          &is_eog_address))
        return NULL;
    if (!parse_step(step_functions, ctx, chain, n_vocab, k, buffer, 1, window, repeat, &st))
        return NULL;
    if (!sample || !decode_address || !is_eog_address || !vocab || room <= 0)
        return PyErr_Format(PyExc_ValueError, "null address or no room");
    if (!PyAnySet_Check(stop_tokens) || !PyCallable_Check(clock))
        return PyErr_Format(PyExc_TypeError, "stop_tokens: a set; clock: a callable");
    if (PyLong_Check(cancel_object)) {
        cancel.word = (volatile int *)PyLong_AsVoidPtr(cancel_object);
        if (!cancel.word)
            return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "null address");
    } else if (PyCallable_Check(cancel_object)) {
        cancel.is_set = cancel_object;
    } else {
        return PyErr_Format(PyExc_TypeError, "cancel: an address or a callable");
    }
    sample_fn sample_whole = (sample_fn)(uintptr_t)sample;
    decode_fn decode = (decode_fn)(uintptr_t)decode_address;
    is_eog_fn is_eog = (is_eog_fn)(uintptr_t)is_eog_address;
    const void *vocab_ptr = (const void *)(uintptr_t)vocab;

    Py_ssize_t n_stops;
    int32_t *stops = token_array(stop_tokens, &n_stops);
    if (!stops)
        return NULL;
    int32_t *new_tokens = PyMem_Malloc(sizeof(int32_t) * (size_t)room);
    double *times = PyMem_Malloc(sizeof(double) * (size_t)room);
    double offset;
    if (!new_tokens || !times) {
        PyErr_NoMemory();
        goto error;
    }
    if (!call_double(clock, &offset))
        goto error;
    offset -= monotonic_now();

    int status = RUN_END, failed = 0;
    long detail = 0, decoded = 0;
    Py_ssize_t count = 0;
    PyThreadState *released = PyEval_SaveThread();
    if (pending >= 0) {
        int32_t result = decode_one(decode, st.ctx, pending);
        if (result != 0) {
            status = RUN_DECODE_FAILED;
            detail = result;
        }
        n_past++;
    }
    double started = monotonic_now();
    while (status != RUN_DECODE_FAILED) {
        long token = k > 0 ? sample_step(&st) : sample_whole(st.chain, st.ctx, -1);
        if (token < 0) {
            status = RUN_NO_TOKEN;
            detail = token;
            break;
        }
        if (is_eog(vocab_ptr, (int32_t)token) || listed(stops, n_stops, (int32_t)token)) {
            status = RUN_END;
            break;
        }
        double now = monotonic_now();
        new_tokens[count] = (int32_t)token;
        times[count++] = now + offset;
        if (count >= room) {
            status = RUN_ROOM;
            break;
        }
        int stop = cancelled(&cancel, &released);
        if (stop < 0) {
            failed = 1;
            break;
        }
        if (stop) {
            status = RUN_CANCELLED;
            break;
        }
        if (n_past >= n_ctx) {  /* before the interval: the next call could not decode it */
            status = RUN_FULL;
            break;
        }
        if (now - started >= interval) {
            status = RUN_INTERVAL;
            break;
        }
        int32_t result = decode_one(decode, st.ctx, (int32_t)token);
        if (result != 0) {
            status = RUN_DECODE_FAILED;
            detail = result;
            break;
        }
        n_past++;
        decoded++;
    }
    PyEval_RestoreThread(released);
    if (failed)
        goto error;
    if (status != RUN_DECODE_FAILED && status != RUN_NO_TOKEN)
        detail = decoded;
    PyObject *token_list = PyList_New(0), *time_list = PyList_New(0);
    if (!token_list || !time_list)
        goto lists_failed;
    for (Py_ssize_t i = 0; i < count; i++)
        if (append_new(token_list, PyLong_FromLong(new_tokens[i]))
                || append_new(time_list, PyFloat_FromDouble(times[i])))
            goto lists_failed;
    PyMem_Free(stops);
    PyMem_Free(new_tokens);
    PyMem_Free(times);
    return Py_BuildValue("(iNNl)", status, token_list, time_list, detail);
lists_failed:
    Py_XDECREF(token_list);
    Py_XDECREF(time_list);
error:
    PyMem_Free(stops);
    PyMem_Free(new_tokens);
    PyMem_Free(times);
    return NULL;
}

static PyMethodDef methods[] = {
    {"top_k", py_top_k, METH_VARARGS,
     "top_k(logits, n, k, out, wide=True) -> count: the best k of n float logits at address "
     "`logits`, best first, into the llama_token_data array at address `out`; wide=False "
     "keeps to the four-at-a-time scan where SCAN is avx2."},
    {"sample", py_sample, METH_VARARGS,
     "sample((get_logits, apply, accept), ctx, chain, n_vocab, k, buffer, window=0, "
     "repeat=1.0) -> token."},
    {"run", py_run, METH_VARARGS,
     "run(functions, ctx, chain, n_vocab, k, buffer, vocab, stop_tokens, pending, room, "
     "n_past, n_ctx, interval, clock, cancel, window=0, repeat=1.0) -> "
     "(status, tokens, times, detail)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sampling",
    "One sampling step in C: a top-k cut over the raw logits, then llama.cpp's chain.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sampling(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    /* How the top-k scan compares logits on this CPU (SCAN), for the tests */
#if defined(COVE_SSE2)
    const char *scan = "sse2";
#elif defined(COVE_NEON)
    const char *scan = "neon";
#else
    const char *scan = "portable";
#endif
#ifdef COVE_AVX2
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2");
    if (have_avx2)
        scan = "avx2";
#endif
    if (PyModule_AddStringConstant(m, "SCAN", scan) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    /* llama_batch as this file lays it out, for decode.py to compare with llama-cpp-python's */
    PyObject *layout = Py_BuildValue(
        "(n(nnnnnnn))", (Py_ssize_t)sizeof(batch), (Py_ssize_t)offsetof(batch, n_tokens),
        (Py_ssize_t)offsetof(batch, token), (Py_ssize_t)offsetof(batch, embd),
        (Py_ssize_t)offsetof(batch, pos), (Py_ssize_t)offsetof(batch, n_seq_id),
        (Py_ssize_t)offsetof(batch, seq_id), (Py_ssize_t)offsetof(batch, logits));
    if (!layout || PyModule_AddObject(m, "BATCH_LAYOUT", layout) < 0) {
        Py_XDECREF(layout);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
