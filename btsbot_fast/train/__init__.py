"""Training wrapper: Keras builders for mm_cnn / mi_cnn, datasets, the training loop and ONNX export.

TensorFlow is imported only when a model is built or trained (it is the optional ``[tf]`` extra).
"""

from .config import ARCHS, ConfigError, load_config, make_config, published
from .data import AlertSet, DataError, class_weights, load_dataset, split_by_object, thin_per_object

__all__ = ["ARCHS", "AlertSet", "ConfigError", "DataError", "class_weights", "load_config", "load_dataset",
           "make_config", "published", "split_by_object", "thin_per_object", "train"]


def train(*args, **kwargs):
    """See :func:`btsbot_fast.train.trainer.train` (imports TensorFlow)."""
    from .trainer import train as _train

    return _train(*args, **kwargs)
