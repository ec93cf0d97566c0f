"""disttensor.backends.cpu: `get_cpu_capability()` names the widest SIMD level NumPy's own kernels were built
to dispatch to on this CPU ("AVX512", "AVX2", "DEFAULT" ...), like PyTorch's answer."""

__all__ = ["get_cpu_capability"]


def get_cpu_capability():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as feats
        except ImportError:
            return "DEFAULT"
    if feats.get("AVX512F") and feats.get("AVX512BW") and feats.get("AVX512VL") and feats.get("AVX512DQ"):
        return "AVX512"
    if feats.get("AVX2") and feats.get("FMA3"):
        return "AVX2"
    if feats.get("ASIMD"):
        return "DEFAULT" if not feats.get("SVE") else "SVE"
    return "DEFAULT"
