import torch

from pruningbench.data import build_dataset


def test_embedded_dataset_is_balanced_real_images():
    data = build_dataset("fashion_mnist_embedded")
    assert (len(data.train), len(data.test), data.num_classes, data.input_shape) == (5000, 1000, 10, (1, 28, 28))
    train_labels = data.train.tensors[1]
    assert torch.bincount(train_labels).tolist() == [500] * 10
    assert torch.bincount(data.test.tensors[1]).tolist() == [100] * 10
    images = data.train.tensors[0]
    assert images.shape[1:] == (1, 28, 28)
    assert abs(images.mean().item()) < 0.1 and 0.8 < images.std().item() < 1.2  # normalized
    assert images.flatten(1).std(1).min() > 0  # no blank images


def test_embedded_dataset_is_deterministic():
    first, second = build_dataset("fashion_mnist_embedded"), build_dataset("fashion_mnist_embedded")
    assert torch.equal(first.train.tensors[0], second.train.tensors[0])
