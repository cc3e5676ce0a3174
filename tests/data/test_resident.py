"""Device-resident data: the crops and flips have the distribution of the torchvision transforms they replace (on a
known image whose every output reveals its crop and flip), the draws are seeded, normalization is ToTensor +
Normalize's, and a run trains on it."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chi2_contingency, chisquare
from torchvision import transforms

from pruningbench.data import build_dataset
from pruningbench.data.resident import ResidentData, ResidentLoader
from pruningbench.errors import UserError

CPU = torch.device("cpu")
PADDING, SIZE, DRAWS = 2, 4, 20000
IMAGE = torch.arange(1, SIZE * SIZE + 1, dtype=torch.uint8).view(1, SIZE, SIZE)  # every pixel value unique, none 0


def _data(images: torch.Tensor, mean=(0.0,), std=(1 / 255,), padding=PADDING, flip=True) -> ResidentData:
    labels = torch.zeros(len(images), dtype=torch.long)
    return ResidentData(images, labels, images, labels, mean, std, crop_padding=padding, flip=flip)


def _outcomes() -> dict[bytes, int]:
    """Every (top, left, flip) crop of the known image, by its pixels."""
    padded = F.pad(IMAGE, (PADDING,) * 4)
    found = {}
    for top in range(2 * PADDING + 1):
        for left in range(2 * PADDING + 1):
            crop = padded[:, top : top + SIZE, left : left + SIZE]
            for flip in (False, True):
                found[(crop.flip(-1) if flip else crop).numpy().tobytes()] = len(found)
    return found


def _counts(samples: list[bytes], outcomes: dict[bytes, int]) -> list[int]:
    counts = [0] * len(outcomes)
    for sample in samples:
        counts[outcomes[sample]] += 1  # a KeyError would be an output no crop + flip produces
    return counts


def test_crops_and_flips_have_the_distribution_of_torchvision_s_transforms():
    outcomes = _outcomes()
    assert len(outcomes) == 2 * (2 * PADDING + 1) ** 2  # 50 distinct outputs
    loader = ResidentLoader(_data(IMAGE.unsqueeze(0).repeat(DRAWS, 1, 1, 1)), True, DRAWS, CPU)
    ours = loader.augment(loader.images).round().to(torch.uint8)  # std 1/255, mean 0: the raw pixel values
    torch.manual_seed(0)
    reference = transforms.Compose([transforms.RandomCrop(SIZE, padding=PADDING), transforms.RandomHorizontalFlip()])
    theirs = [reference(IMAGE).numpy().tobytes() for _ in range(DRAWS)]
    ours_counts = _counts([image.numpy().tobytes() for image in ours], outcomes)
    theirs_counts = _counts(theirs, outcomes)
    assert min(ours_counts) > 0 and min(theirs_counts) > 0  # every crop and flip happens, and nothing else
    assert chisquare(ours_counts).pvalue > 1e-3 and chisquare(theirs_counts).pvalue > 1e-3  # both uniform
    assert chi2_contingency([ours_counts, theirs_counts]).pvalue > 1e-3  # and one distribution: a two-sample test


def test_draws_follow_the_generator_seed_and_testing_is_plain_and_ordered():
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    data = _data(images, mean, std, padding=4)
    first, second = ResidentLoader(data, True, 4, CPU), ResidentLoader(data, True, 4, CPU)
    first.generator.manual_seed(7), second.generator.manual_seed(7)
    batches = [list(first), list(second)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(*batches))
    assert len(first) == 3 and len(ResidentLoader(data, True, 4, CPU, drop_last=True)) == 2
    second.generator.manual_seed(8)
    assert not torch.equal(torch.cat([x for x, _ in second]), torch.cat([x for x, _ in batches[0]]))
    ((plain, _),) = list(ResidentLoader(data, False, 10, CPU))
    expected = transforms.Normalize(mean, std)(images.float() / 255)  # ToTensor + Normalize
    assert torch.allclose(plain, expected, atol=1e-5)


def test_a_run_trains_on_device_resident_data_and_a_dataset_without_it_is_refused(tiny_config):
    from pruningbench.pipeline import run_experiment
    from pruningbench.pipeline.workload import ClassificationWorkload
    from pruningbench.store import ResultStore

    config = tiny_config(
        **{
            "task.dataset": "fashion_mnist_embedded",
            "task.data_on_device": True,
            "base_training.epochs": 1,
            "base_training.batch_size": 256,
            "finetune.epochs": 1,
        }
    )
    record = run_experiment(config, ResultStore.in_dir(config.results_dir))
    assert record.base_metric > 40  # one epoch on the 5,000 images: far above the 10% of chance
    assert (
        config.run_key()
        == tiny_config(
            **{
                "task.dataset": "fashion_mnist_embedded",
                "base_training.epochs": 1,
                "base_training.batch_size": 256,
                "finetune.epochs": 1,
            }
        ).run_key()
    )
    without = replace(build_dataset("fashion_mnist_embedded"), resident=None)  # as ImageNet and COCO: files on disk
    with pytest.raises(UserError, match="task.data_on_device: dataset 'fashion_mnist_embedded' cannot be kept"):
        ClassificationWorkload(without, config, CPU)
