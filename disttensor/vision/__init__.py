"""disttensor.vision: datasets (MNIST, CIFAR, ImageFolder, FakeData, the bundled sklearn digits), transforms,
and utils (make_grid, save_image), with torchvision's names."""
from . import datasets, transforms, utils  # noqa: F401
from ._image import read_image_file as read_image  # noqa: F401

__all__ = ["datasets", "transforms", "utils", "read_image"]
