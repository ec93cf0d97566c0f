"""Fused optimizer kernels: one numba `prange` loop per update over flat float32/float64 buffers.

Imported only from `Optimizer.step` (never at `import disttensor`); `kernels()` returns None when
numba is missing, and the optimizers then use their NumPy/CuPy multi-pass fallback.
Scalars are passed as Python floats (float64 in the kernel: cheaper to pass than NumPy scalars, and the
loops are memory-bound either way).
"""
import math

_K = None
_tried = False


def kernels():
    global _K, _tried
    if not _tried:
        _tried = True
        try:
            _K = _compile()
        except ImportError:
            _K = None
    return _K


PARALLEL_MIN = 1 << 18  # below this many elements a serial loop beats waking the thread pool (tens of us)


class _Kernels:
    def pick(self, name, n):
        return getattr(self, name) if n >= PARALLEL_MIN else getattr(self, name + "_serial")


def _compile():
    import numba
    from numba import prange

    opts = dict(cache=True, nogil=True, error_model="numpy")
    k = _Kernels()

    def njit(**kw):  # collect the plain functions; both variants are made below (compiled on first call)
        def deco(fn):
            fns[fn.__name__] = fn
            return fn
        return deco

    fns = {}

    @njit(**opts)
    def sgd(p, g, buf, lr, wd, momentum, damp1, nesterov, maximize, first, has_mom):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            if wd != 0:
                gi = gi + wd * p[i]
            if has_mom:
                if first:
                    b = gi
                else:
                    b = buf[i] * momentum + damp1 * gi
                buf[i] = b
                if nesterov:
                    gi = gi + momentum * b
                else:
                    gi = b
            p[i] = p[i] - lr * gi

    @njit(**opts)
    def adam(p, g, m, v, vmax, lr, omb1, b2, omb2, eps, wd, decay, step_size, bc2s, amsgrad, maximize, decoupled):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            pi = p[i]
            if wd != 0:
                if decoupled:
                    pi = pi * decay
                else:
                    gi = gi + wd * pi
            mi = m[i]
            mi = mi + omb1 * (gi - mi)
            vi = b2 * v[i] + omb2 * gi * gi
            m[i] = mi
            v[i] = vi
            if amsgrad:
                if vmax[i] > vi:
                    vi = vmax[i]
                vmax[i] = vi
            p[i] = pi - step_size * (mi / (math.sqrt(vi) / bc2s + eps))

    @njit(**opts)
    def adagrad(p, g, s, clr, wd, eps, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            if wd != 0:
                gi = gi + wd * p[i]
            si = s[i] + gi * gi
            s[i] = si
            p[i] = p[i] - clr * (gi / (math.sqrt(si) + eps))

    @njit(**opts)
    def rmsprop(p, g, sq, gavg, buf, lr, alpha, oma, eps, wd, momentum, centered, has_mom, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            if wd != 0:
                gi = gi + wd * p[i]
            si = alpha * sq[i] + oma * gi * gi
            sq[i] = si
            if centered:
                ga = gavg[i]
                ga = ga + oma * (gi - ga)
                gavg[i] = ga
                avg = math.sqrt(si - ga * ga) + eps
            else:
                avg = math.sqrt(si) + eps
            if has_mom:
                b = buf[i] * momentum + gi / avg
                buf[i] = b
                p[i] = p[i] - lr * b
            else:
                p[i] = p[i] - lr * (gi / avg)

    @njit(**opts)
    def adadelta(p, g, sq, acc, lr, rho, omr, eps, wd, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            if wd != 0:
                gi = gi + wd * p[i]
            si = rho * sq[i] + omr * gi * gi
            sq[i] = si
            d = math.sqrt(acc[i] + eps) / math.sqrt(si + eps) * gi
            acc[i] = rho * acc[i] + omr * d * d
            p[i] = p[i] - lr * d

    @njit(**opts)
    def adamax(p, g, m, u, clr, omb1, b2, eps, wd, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            if wd != 0:
                gi = gi + wd * p[i]
            mi = m[i]
            mi = mi + omb1 * (gi - mi)
            m[i] = mi
            ui = u[i] * b2
            a = abs(gi) + eps
            if a > ui:
                ui = a
            u[i] = ui
            p[i] = p[i] - clr * (mi / ui)

    @njit(**opts)
    def nadam(p, g, m, v, c_grad, c_avg, omb1, b2, omb2, bc2, eps, wd, decay, decoupled, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            pi = p[i]
            if wd != 0:
                if decoupled:
                    pi = pi * decay
                else:
                    gi = gi + wd * pi
            mi = m[i]
            mi = mi + omb1 * (gi - mi)
            vi = b2 * v[i] + omb2 * gi * gi
            m[i] = mi
            v[i] = vi
            denom = math.sqrt(vi / bc2) + eps
            pi = pi + c_grad * (gi / denom)
            p[i] = pi + c_avg * (mi / denom)

    @njit(**opts)
    def radam(p, g, m, v, lr, omb1, b2, omb2, bc1, bc2s, rect, eps, wd, decay, decoupled, use_rect, maximize):
        for i in prange(p.shape[0]):
            gi = g[i]
            if maximize:
                gi = -gi
            pi = p[i]
            if wd != 0:
                if decoupled:
                    pi = pi * decay
                else:
                    gi = gi + wd * pi
            mi = m[i]
            mi = mi + omb1 * (gi - mi)
            vi = b2 * v[i] + omb2 * gi * gi
            m[i] = mi
            v[i] = vi
            bm = mi / bc1
            if use_rect:
                p[i] = pi - bm * lr * (bc2s / (math.sqrt(vi) + eps)) * rect
            else:
                p[i] = pi - bm * lr

    import types
    for name, fn in fns.items():
        setattr(k, name, numba.njit(parallel=True, **opts)(fn))
        # a separate function object (own qualname, so its own on-disk cache entry) for the serial variant
        serial = types.FunctionType(fn.__code__, fn.__globals__, name + "_serial", fn.__defaults__, fn.__closure__)
        serial.__qualname__ = fn.__qualname__ + "_serial"
        setattr(k, name + "_serial", numba.njit(parallel=False, **opts)(serial))
    k.numba = numba
    return k
