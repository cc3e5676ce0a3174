import torch
from torch import nn

from pruningbench.metrics import count_macs


def test_macs_of_a_known_conv_and_linear():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    # conv: 8 outputs x 4x4 positions x (3x3x3) = 3456; linear: 128 x 10 = 1280
    assert count_macs(model, (3, 4, 4)) == 3456 + 1280


def test_topk_accuracy_of_known_predictions():
    from torch.utils.data import DataLoader, TensorDataset

    from pruningbench.metrics import evaluate_topk

    # 3 classes, logits = the input; labels: ranked 1st, 2nd, 3rd, 1st
    logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([0, 1, 2, 2])
    metrics = evaluate_topk(nn.Identity(), DataLoader(TensorDataset(logits, labels), batch_size=3), torch.device("cpu"),
                            ks=(1, 2, 5))
    assert metrics == {"top1": 50.0, "top2": 75.0, "top5": 100.0}  # k capped at the 3 classes
