"""The standard NLE encoder, scaled down so it trains on a CPU; plain torch (no TorchRL) so that
other trainers (the Sample Factory comparison) can run the very same network.

- glyph embeddings, a strided CNN over the whole 21×79 map and a small CNN over a 9×9 crop
  centred on the hero (the crop is where fights, items and doors are);
- an MLP over ``blstats`` (signed-log scaled: HP is tens, gold and score are thousands);
- a byte-level CNN over the message, max-pooled (the message is what ONI rewards, so the
  policy should see it too).
"""

from __future__ import annotations

import torch
from nle import nethack
from torch import nn

from oni_rl.architecture import PolicyConfig

GLYPH_COUNT = nethack.MAX_GLYPH + 1  # the last index pads the crop outside the map


def signed_log(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def egocentric_crop(glyphs: torch.Tensor, x: torch.Tensor, y: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size``×``size`` window of ``glyphs`` (B, H, W) centred on (x, y); off-map cells pad."""
    half = size // 2
    padded = nn.functional.pad(glyphs, (half, half, half, half), value=GLYPH_COUNT - 1)
    offsets = torch.arange(size, device=glyphs.device)
    rows = (y.long().unsqueeze(1) + offsets).unsqueeze(2)  # (B, size, 1): padded coords
    cols = (x.long().unsqueeze(1) + offsets).unsqueeze(1)  # (B, 1, size)
    batch = torch.arange(glyphs.shape[0], device=glyphs.device).view(-1, 1, 1)
    return padded[batch, rows, cols]


def lookup(table: nn.Embedding, indices: torch.Tensor) -> torch.Tensor:
    """``table(indices)`` computed as an ``index_select``: the same values and gradients, but on the
    CPU its backward (an ``index_add``) is much cheaper than ``nn.Embedding``'s sort-based one, which
    was the second-largest op of a PPO update (``python -m benchmarks.step_costs`` compares both)."""
    return table.weight.index_select(0, indices.reshape(-1)).reshape(*indices.shape, table.embedding_dim)


class NetHackEncoder(nn.Module):
    """(glyphs, blstats, message) → one feature vector per step; any leading batch shape."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        c = config
        self.crop_size = c.crop_size
        self.glyph_embedding = nn.Embedding(GLYPH_COUNT, c.glyph_dim)
        self.map_cnn = nn.Sequential(
            nn.Conv2d(c.glyph_dim, c.conv_channels, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(c.conv_channels, c.conv_channels, 3, stride=2, padding=1), nn.ELU(),
            nn.AdaptiveAvgPool2d((3, 10)), nn.Flatten(),
        )
        self.crop_cnn = nn.Sequential(
            nn.Conv2d(c.glyph_dim, c.conv_channels, 3, padding=1), nn.ELU(),
            nn.Conv2d(c.conv_channels, c.conv_channels, 3, padding=1), nn.ELU(), nn.Flatten(),
        )
        self.stats_mlp = nn.Sequential(
            nn.Linear(nethack.NLE_BLSTATS_SIZE, c.stats_dim), nn.ELU(),
            nn.Linear(c.stats_dim, c.stats_dim), nn.ELU(),
        )
        self.message_embedding = nn.Embedding(256, 16)
        self.message_cnn = nn.Sequential(  # strided: full-width convolutions over 256 bytes dominated the cost
            nn.Conv1d(16, 32, 4, stride=2, padding=1), nn.ELU(),
            nn.Conv1d(32, c.message_dim, 4, stride=2, padding=1), nn.ELU(),
        )
        width = (c.conv_channels * 3 * 10 + c.conv_channels * c.crop_size**2 + c.stats_dim + c.message_dim)
        self.project = nn.Sequential(nn.Linear(width, c.hidden_size), nn.ELU())
        self.output_size = c.hidden_size

    def forward(self, glyphs: torch.Tensor, blstats: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        lead = glyphs.shape[:-2]
        glyphs = glyphs.reshape(-1, *glyphs.shape[-2:]).long()
        blstats = blstats.reshape(-1, blstats.shape[-1])
        message = message.reshape(-1, message.shape[-1]).long()

        map_features = self.map_cnn(lookup(self.glyph_embedding, glyphs).permute(0, 3, 1, 2))
        x, y = blstats[:, nethack.NLE_BL_X], blstats[:, nethack.NLE_BL_Y]
        crop = egocentric_crop(glyphs, x, y, self.crop_size)
        crop_features = self.crop_cnn(lookup(self.glyph_embedding, crop).permute(0, 3, 1, 2))
        stats_features = self.stats_mlp(signed_log(blstats.float()))
        message_features = self.message_cnn(lookup(self.message_embedding, message).transpose(1, 2)).amax(dim=2)
        features = torch.cat([map_features, crop_features, stats_features, message_features], dim=1)
        return self.project(features).reshape(*lead, -1)
