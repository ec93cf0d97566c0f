"""disttensor.utils: data loading (utils.data) and helpers."""
