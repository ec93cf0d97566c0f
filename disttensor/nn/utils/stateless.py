"""functional_call: run a module with some parameters/buffers replaced by given tensors, then restore."""
__all__ = ["functional_call"]


def _swap(module, name, value):
    *path, leaf = name.split(".")
    m = module
    for p in path:
        m = getattr(m, p)
    if leaf in m._parameters:
        old = m._parameters[leaf]
        m._parameters[leaf] = value
        return m, leaf, "_parameters", old
    if leaf in m._buffers:
        old = m._buffers[leaf]
        m._buffers[leaf] = value
        return m, leaf, "_buffers", old
    old = getattr(m, leaf, None)
    object.__setattr__(m, leaf, value)
    return m, leaf, None, old


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    if isinstance(parameter_and_buffer_dicts, (list, tuple)):
        merged = {}
        for d in parameter_and_buffer_dicts:
            merged.update(d)
    else:
        merged = dict(parameter_and_buffer_dicts)
    if strict:
        expected = set(dict(module.named_parameters())) | set(dict(module.named_buffers()))
        missing = sorted(expected - set(merged))
        unexpected = sorted(set(merged) - expected)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}: missing keys {missing}, "
                               f"unexpected keys {unexpected}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    saved = []
    try:
        for name, value in merged.items():
            saved.append(_swap(module, name, value))
        return module(*args, **(kwargs or {}))
    finally:
        for m, leaf, kind, old in reversed(saved):
            if kind is None:
                object.__setattr__(m, leaf, old)
            else:
                getattr(m, kind)[leaf] = old
