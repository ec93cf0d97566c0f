"""L-BFGS with PyTorch's interface and iteration (one parameter group; `step(closure)`; optional strong-Wolfe
line search). The math runs on one flat array of the parameters' dtype (NumPy or CuPy); the state kept in
`optimizer.state[first_param]` has PyTorch's keys (func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag,
prev_flat_grad, prev_loss, al) so state dicts round-trip.
"""
import math

from .optimizer import Optimizer, _to_float
from ..tensor import Tensor, _new_tensor

__all__ = ["LBFGS"]


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clipped to bounds
    (default: the interval between x1 and x2); the middle of the bounds when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along d from the current point (loss f, gradient g, slope gtd) for a step t satisfying the
    strong Wolfe conditions: a bracketing phase, then a zoom phase by safeguarded cubic interpolation.
    Returns (loss, flat gradient, t, number of evaluations)."""
    d_norm = float(abs(d).max())
    f_new, g_new = evaluate(t)
    n_evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g.copy(), gtd
    done = False
    it = 0
    brk = None
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev) or gtd_new >= 0:
            if not (f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev)) and abs(gtd_new) <= -c2 * gtd:
                brk = [[t, f_new, g_new, gtd_new]]
                done = True
                break
            brk = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new.copy(), gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            brk = [[t, f_new, g_new, gtd_new]]
            done = True
            break
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        n_evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
    if it == max_ls:
        brk = [[0.0, f, g, gtd], [t, f_new, g_new, gtd_new]]
    if len(brk) == 1:
        return brk[0][1], brk[0][2], brk[0][0], n_evals
    # zoom: shrink the bracket [low, high] (low: the lower loss) until the conditions hold
    stalled = False
    low, high = (0, 1) if brk[0][1] <= brk[1][1] else (1, 0)
    while not done and it < max_ls:
        a, b = brk[0][0], brk[1][0]
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = _cubic_min(a, brk[0][1], brk[0][3], b, brk[1][1], brk[1][3])
        top, bot = max(a, b), min(a, b)
        eps = 0.1 * (top - bot)
        if min(top - t, t - bot) < eps:  # too close to an end: move away unless the last try made progress
            if stalled or t >= top or t <= bot:
                t = top - eps if abs(t - top) < abs(t - bot) else bot + eps
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        n_evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= brk[low][1]:
            brk[high] = [t, f_new, g_new.copy(), gtd_new]
            low, high = (0, 1) if brk[0][1] <= brk[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (brk[high][0] - brk[low][0]) >= 0:
                brk[high] = brk[low]
            brk[low] = [t, f_new, g_new.copy(), gtd_new]
    t, f_new, g_new, _ = brk[low]
    return f_new, g_new, t, n_evals


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= _to_float(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def __setstate__(self, state):
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._params = self.param_groups[0]["params"]

    @staticmethod
    def _cast_state(p, name, val):
        if isinstance(val, (list, tuple)):
            return [None if v is None else Optimizer._cast_state(p, name, v) for v in val]
        return Optimizer._cast_state(p, name, val)

    # ---- flat views ------------------------------------------------------------------------------------
    def _xp(self):
        from .._backends.device import xp_of
        return xp_of(self._params[0]._data)

    def _gather_flat_grad(self):
        xp = self._xp()
        parts = []
        for p in self._params:
            if p.grad is None:
                parts.append(xp.zeros(p._data.size, dtype=p._data.dtype))
            else:
                parts.append(p.grad._data.reshape(-1))
        return xp.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _add_grad(self, t, d):
        off = 0
        for p in self._params:
            n = p._data.size
            arr = p._data
            arr += (d[off:off + n] * arr.dtype.type(t)).reshape(arr.shape)
            p._vc[0] += 1
            off += n

    def _clone_params(self):
        return [p._data.copy() for p in self._params]

    def _set_params(self, saved):
        for p, a in zip(self._params, saved):
            p._data[...] = a
            p._vc[0] += 1

    def _evaluate(self, closure, x, d):
        from ..autograd.grad_mode import enable_grad

        def f(t):
            self._add_grad(t, d)
            with enable_grad():
                loss = float(_to_float(closure()))
            g = self._gather_flat_grad()
            self._set_params(x)
            return loss, g
        return f

    # ---- the step ---------------------------------------------------------------------------------------
    def step(self, closure):
        """One optimisation step: up to max_iter L-BFGS iterations, re-evaluating the model through
        `closure` (which must clear the gradients, compute the loss, call backward and return the loss)."""
        from ..autograd.grad_mode import enable_grad
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure")
        for hook in list(self._step_pre_hooks.values()):
            hook(self, (), {})
        group = self.param_groups[0]
        lr = _to_float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(_to_float(orig_loss))
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        dtype = flat_grad.dtype.type
        if float(abs(flat_grad).max()) <= tol_grad:
            return orig_loss

        def arr(v):
            return v._data if isinstance(v, Tensor) else v

        d = arr(state.get("d"))
        t = state.get("t")
        old_dirs = [arr(v) for v in state.get("old_dirs", [])]
        old_stps = [arr(v) for v in state.get("old_stps", [])]
        ro = [float(_to_float(v)) for v in state.get("ro", [])]
        H_diag = state.get("H_diag")
        H_diag = None if H_diag is None else float(_to_float(H_diag))
        prev_flat_grad = arr(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = [None] * history_size

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * dtype(t)
                ys = float(y.dot(s))
                if ys > 1e-10:  # curvature condition: update the memory
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y.dot(y))
                # two-loop recursion: d = -H grad
                q = -flat_grad
                k = len(old_dirs)
                for i in range(k - 1, -1, -1):
                    al[i] = float(old_stps[i].dot(q)) * ro[i]
                    q -= old_dirs[i] * dtype(al[i])
                r = q * dtype(H_diag)
                for i in range(k):
                    be_i = float(old_dirs[i].dot(r)) * ro[i]
                    r += old_stps[i] * dtype(al[i] - be_i)
                d = r
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x0 = self._clone_params()
                loss, flat_grad, t, ls_evals = _strong_wolfe(self._evaluate(closure, x0, d), t, d, loss, flat_grad,
                                                             gtd, tolerance_change=tol_change)
                self._add_grad(t, d)
                opt_cond = float(abs(flat_grad).max()) <= tol_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    with enable_grad():
                        loss = float(_to_float(closure()))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(abs(flat_grad).max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if float(abs(d * dtype(t)).max()) <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break

        def wrap(a):
            return None if a is None else _new_tensor(a)

        def scalar(v):
            return None if v is None else _new_tensor(self._xp().asarray(v, dtype=flat_grad.dtype))

        state["d"] = wrap(d)
        state["t"] = t
        state["old_dirs"] = [wrap(a) for a in old_dirs]
        state["old_stps"] = [wrap(a) for a in old_stps]
        state["ro"] = [scalar(v) for v in ro]
        state["H_diag"] = scalar(H_diag)
        state["prev_flat_grad"] = wrap(prev_flat_grad)
        state["prev_loss"] = prev_loss
        state["al"] = [scalar(v) for v in al]
        for hook in list(self._step_post_hooks.values()):
            hook(self, (), {})
        return orig_loss
