import pytest
import torch

from pruningbench.metrics import count_params
from pruningbench.models import MODELS, create_model


@pytest.mark.parametrize(
    ("name", "millions"), [("resnet18_cifar", 11.22), ("resnet50_cifar", 23.70), ("vgg19_cifar", 20.08)]
)
def test_cifar100_parameter_counts_match_the_paper(name, millions):
    assert abs(count_params(create_model(name, num_classes=100)) / 1e6 - millions) <= 0.01


@pytest.mark.parametrize("name", sorted(set(MODELS.names()) - {"yolov8m"}))  # the detector: tests/models/test_yolo.py
def test_every_classifier_maps_images_to_class_logits(name):
    model = create_model(name, num_classes=7, in_channels=1, image_size=32).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize(("name", "millions"), [("resnet18", 11.69), ("resnet50", 25.56)])
def test_imagenet_parameter_counts_match_the_paper(name, millions):
    assert abs(count_params(create_model(name, num_classes=1000)) / 1e6 - millions) <= 0.005


def test_library_weights_only_where_the_library_has_them(monkeypatch):
    from torchvision import models

    from pruningbench.errors import UserError

    with pytest.raises(UserError, match="model 'resnet18_cifar' has no library weights"):
        create_model("resnet18_cifar", num_classes=10, pretrained=True)
    requested = []  # no download in tests: check which weights would be loaded, then build without them
    original = models.resnet18
    monkeypatch.setattr(models, "resnet18", lambda weights, num_classes: (requested.append(weights), original(
        weights=None, num_classes=num_classes))[1])
    model = create_model("resnet18", num_classes=10, pretrained=True)
    assert requested == [models.ResNet18_Weights.IMAGENET1K_V1] and model.fc.out_features == 10


def test_vit_small_has_the_papers_parameter_count_and_sizes_its_position_embedding():
    assert abs(count_params(create_model("vit_small_patch16_224", num_classes=1000)) / 1e6 - 22.05) <= 0.005
    small = create_model("vit_small_patch16_224", num_classes=10, image_size=32).eval()
    with torch.no_grad():
        assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert small.pos_embed.shape[1] == 2 * 2 + 1  # 4 patches + class token


def test_pruned_vit_keeps_head_count_saves_and_loads(tmp_path):
    from pruningbench.checkpoint import load_pruned, save_pruned
    from pruningbench.config import PruneConfig
    from pruningbench.methods.importance import create_criterion
    from pruningbench.pipeline.prune import prune_to_speedup

    model = create_model("vit_small_patch16_224", num_classes=10, image_size=32)
    prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 3, 32, 32), PruneConfig(speedup=3))
    attention = model.blocks[0].attn
    assert attention.num_heads == 6 and attention.qkv.out_features == 3 * 6 * attention.head_dim < 3 * 384
    assert attention.proj.in_features == attention.attn_dim == 6 * attention.head_dim
    save_pruned(model, tmp_path / "vit.pt", "vit_small_patch16_224", 10, 3, 32)
    loaded = load_pruned(tmp_path / "vit.pt")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model.eval()(images), atol=1e-5)
    assert loaded.blocks[0].attn.head_dim == attention.head_dim


def test_whole_head_pruning_removes_the_planted_dead_head_and_keeps_head_size(tmp_path):
    from pruningbench.checkpoint import load_pruned, save_pruned
    from pruningbench.config import PruneConfig
    from pruningbench.methods.importance import create_criterion
    from pruningbench.pipeline.prune import prune_to_speedup

    model = create_model("vit_small_patch16_224", num_classes=10, image_size=32)
    attention = model.blocks[0].attn
    with torch.no_grad():  # head 2 of block 0 is dead (q, k, v and its proj inputs); the others carry a bias tag
        attention.qkv.weight.view(3, 6, 64, 384)[:, 2] = 0.0
        attention.proj.weight.view(384, 6, 64)[:, 2] = 0.0
        attention.qkv.bias.view(3, 6, 64)[0, :, 0] = torch.tensor([100.0, 101, 0, 103, 104, 105])
        attention.qkv.bias.view(3, 6, 64)[:, 2] = 0.0
    outcome = prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 3, 32, 32),
                               PruneConfig(speedup=2, attention="heads"))
    assert 2.0 <= outcome.achieved_speedup <= 2.02
    heads = [block.attn.num_heads for block in model.blocks]
    assert all(block.attn.head_dim == 64 for block in model.blocks) and min(heads) >= 1 and sum(heads) < 6 * 12
    for block in model.blocks:
        assert block.attn.qkv.out_features == 3 * block.attn.num_heads * 64 == 3 * block.attn.proj.in_features
    tags = attention.qkv.bias.view(3, attention.num_heads, 64)[0, :, 0].tolist()
    assert tags == sorted(tags) and set(tags) <= {100.0, 101.0, 103.0, 104.0, 105.0}  # the dead head went first
    save_pruned(model, tmp_path / "vit.pt", "vit_small_patch16_224", 10, 3, 32)
    loaded = load_pruned(tmp_path / "vit.pt")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model.eval()(images), atol=1e-5)
    assert [block.attn.num_heads for block in loaded.blocks] == heads


@pytest.mark.parametrize("name", ["resnet18", "vit_small_patch16_224", "yolov8m"])
def test_library_weights_unreachable_is_one_clear_error(name, monkeypatch, tmp_path):
    import socket

    from pruningbench.errors import UserError

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution (network blocked by the test)")

    monkeypatch.chdir(tmp_path)  # no yolov8m.pt lying around
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # read at call time, not the env
    # no connection can leave this process: name lookups and every socket connect fail, as on an offline machine
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket.socket, "connect_ex", offline)
    with pytest.raises(UserError, match=f"model '{name}': its library weights could not be loaded .*task.pretrained"):
        create_model(name, num_classes=80 if name == "yolov8m" else 1000, pretrained=True)


def _weights_file(name: str, path):
    """A weights file in the library's own format, from a freshly initialized library model."""
    if name == "resnet18":
        from torchvision import models

        source = models.resnet18(num_classes=1000)
        torch.save(source.state_dict(), path)
        return source.conv1.weight
    if name == "vit_small_patch16_224":
        import timm
        from safetensors.torch import save_file

        source = timm.create_model(name, num_classes=1000)
        save_file(source.state_dict(), str(path))
        return source.patch_embed.proj.weight
    from ultralytics.nn.tasks import DetectionModel

    source = DetectionModel("yolov8m.yaml", nc=80, verbose=False)
    torch.save({"model": source.half()}, path)  # ultralytics' checkpoint layout
    return source.model[0].conv.weight.float()


@pytest.mark.parametrize(("name", "suffix"), [("resnet18", ".pth"), ("vit_small_patch16_224", ".safetensors"),
                                              ("yolov8m", ".pt")])
def test_library_weights_from_a_local_file(name, suffix, tmp_path):
    expected = _weights_file(name, tmp_path / f"weights{suffix}")
    classes = 80 if name == "yolov8m" else 10  # a detector keeps its classes; a classifier gets a fresh head
    model = create_model(name, num_classes=classes, image_size=32, pretrained=tmp_path / f"weights{suffix}")
    first = {"resnet18": lambda m: m.conv1.weight, "vit_small_patch16_224": lambda m: m.patch_embed.proj.weight,
             "yolov8m": lambda m: m.model[0].conv.weight}[name](model)
    assert torch.equal(first, expected)


@pytest.mark.parametrize("name", ["resnet18", "vit_small_patch16_224", "yolov8m"])
def test_an_unreadable_weights_file_is_one_clear_error(name, tmp_path):
    from pruningbench.errors import UserError

    path = tmp_path / "weights.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=f"model '{name}': weights file '{path}' could not be loaded"):
        create_model(name, num_classes=80, image_size=32, pretrained=path)
