"""In-place writes and views, against PyTorch: a view whose base (or a sibling view) was written in place after the
view was taken sees the write in its gradients (its history is re-derived from the base's, as PyTorch does), and
fill_/zero_/copy_ through a view record the write in the base's history."""
import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")


def _sibling_mul(L, w):
    y = w * 2
    a, b = y[:2], y[1:3]
    a.mul_(3)
    return b.sum()


def _sibling_inplace_after_sibling_write(L, w):
    y = w * 2
    a, b = y[:2], y[1:3]
    a.mul_(3)
    b.mul_(w[3])             # b's old value already holds a's write
    return (y * y).sum()


def _base_inplace_then_old_view(L, w):
    y = w * 2
    v = y[1:]
    y.mul_(5)
    return (v * v).sum()


def _setitem_base_then_reshaped_view(L, w):
    y = w * 1
    v = y.view(2, 2)
    y[0] = w[3] * 10
    return (v * v).sum()


def _view_of_view_after_write(L, w):
    y = (w * 1).view(2, 2)
    col = y.t()[1]            # a view of a view: its base is y's base
    y[1, 1] = w[0] ** 2
    return (col * L.tensor([3.0, 5.0])).sum()


def _buffer_row_taken_before_write(L, w):
    buf = L.zeros(2, 4)
    row = buf[0]              # does not require grad yet
    buf[0] = w * 2
    return (row * 3).sum()


def _copy_into_view_of_plain_buffer(L, w):
    base = L.zeros(4)
    base[:2].copy_(w[:2] * 1)
    return (base * L.tensor([1.0, 2.0, 3.0, 4.0])).sum()


def _fill_view(L, w):
    y = w * 2
    y[1:3].fill_(0)
    return (y * y).sum()


def _zero_view_then_sibling(L, w):
    y = w * 2
    s = y[2:]
    y[:3].zero_()
    return (s * s).sum() + (y * y).sum()


def _written_view_under_no_grad(L, w):
    y = w * 3
    v = y[1:]
    with L.no_grad():
        y[0] = 100.0
    return (v * v).sum() + (y * y).sum()


def _transposed_view_with_backward_gradient(L, w):
    y = (w * 1).view(2, 2)
    t = y.t()
    y.mul_(w.view(2, 2))
    t.backward(L.tensor([[1.0, 2.0], [3.0, 4.0]]))
    return None


CASES = [_sibling_mul, _sibling_inplace_after_sibling_write, _base_inplace_then_old_view, _setitem_base_then_reshaped_view, _view_of_view_after_write,
         _buffer_row_taken_before_write, _copy_into_view_of_plain_buffer, _fill_view, _zero_view_then_sibling,
         _written_view_under_no_grad, _transposed_view_with_backward_gradient]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_view_history_after_inplace_matches_torch(case):
    res = {}
    for L in (torch, dt):
        w = L.tensor([1.0, 2.0, 3.0, 4.0], dtype=L.float64, requires_grad=True)
        out = case(L, w)
        if out is not None:
            out.backward()
            res[L] = (float(out.detach()), w.grad.numpy().copy())
        else:
            res[L] = (None, w.grad.numpy().copy())
    assert res[dt][0] == pytest.approx(res[torch][0]) if res[torch][0] is not None else res[dt][0] is None
    np.testing.assert_allclose(res[dt][1], res[torch][1], rtol=1e-12)


def test_view_of_leaf_sees_optimizer_update_and_keeps_its_gradient():
    """A view of a parameter taken once (as a module might) stays usable after optimizer steps wrote the
    parameter in place under no_grad: its gradient reaches the parameter, as in torch."""
    res = []
    for L in (torch, dt):
        p = L.nn.Parameter(L.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=L.float64))
        pt = p.t()
        opt = L.optim.SGD([p], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            (pt @ L.tensor([1.0, -1.0], dtype=L.float64)).pow(2).sum().backward()
            opt.step()
        res.append(p.detach().numpy().copy())
    np.testing.assert_allclose(res[1], res[0], rtol=1e-12)


def test_unbind_piece_after_base_write_raises_like_torch():
    for L in (torch, dt):
        w = L.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = (w * 1).view(2, 2)
        p0, p1 = y.unbind(0)
        y.add_(1.0)
        with pytest.raises(RuntimeError, match="modified inplace"):
            (p0 * p1).sum()


def test_inplace_through_view_of_leaf_still_raises():
    w = dt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        w[:1].zero_()
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        w[1:].copy_(dt.tensor([5.0]))
