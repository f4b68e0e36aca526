"""The stored form of a PPO agent: one zip holding the whole stable-baselines3 model (to inspect it or
train it further) and its deterministic policy as plain arrays, so that the daily run can act without
importing torch.

Why both: loading the SB3 model costs about 5 s on this machine (torch and stable-baselines3 imports,
then PPO.load builds an optimizer and initialises weights it immediately overwrites), which alone
would push a daily run past its 8 s budget. The deterministic action of an MLP policy is a few matrix
products: x -> tanh(W x + b) per hidden layer, then the action head, clipped to the action box, exactly
what `PPO.predict(observation, deterministic=True)` computes. A test checks the two agree.

The policy members are written with a fixed time stamp, so the same weights give the same bytes.
The meta member also records the observation layout the policy reads (`ObservationLayout`): an
artifact of another layout version (those stored before layout 2 record none) is refused with an
AgentArtifactError, which the hybrid generator reports before falling back to equal weights.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from stable_baselines3 import PPO

SB3_MEMBER = "sb3_model.zip"
POLICY_META = "policy/meta.json"
# zip's earliest representable time: a constant, so the members' bytes depend on the weights only.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
Float32Array = npt.NDArray[np.float32]


class AgentArtifactError(ValueError):
    """The bytes are not an agent artifact this version can read."""


@dataclass(frozen=True)
class ObservationLayout:
    """What a policy's observation holds (rl_trading/interpreters.py): its version and sizes."""

    version: int
    slots: int
    features_per_slot: int
    market_features: int

    def as_dict(self) -> dict[str, int]:
        return {
            "version": self.version,
            "slots": self.slots,
            "features_per_slot": self.features_per_slot,
            "market_features": self.market_features,
        }


@dataclass(frozen=True, eq=False)
class PolicyWeights:
    """A deterministic tanh-MLP policy: hidden layers (weight, bias), the action head, the action box."""

    hidden: tuple[tuple[Float32Array, Float32Array], ...]
    action: tuple[Float32Array, Float32Array]
    low: float
    high: float

    def __post_init__(self) -> None:
        width = self.observation_size
        for number, (weight, bias) in enumerate((*self.hidden, self.action)):
            if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
                raise AgentArtifactError(f"layer {number} has weight {weight.shape} and bias {bias.shape}")
            width = weight.shape[0]

    @property
    def observation_size(self) -> int:
        first = self.hidden[0][0] if self.hidden else self.action[0]
        return int(first.shape[1])

    @property
    def action_size(self) -> int:
        return int(self.action[0].shape[0])

    def act(self, observation: npt.ArrayLike) -> Float32Array:
        """The deterministic action (the Gaussian's mean), clipped to the action box, in float32 as in torch."""
        x = np.asarray(observation, dtype=np.float32)
        if x.shape != (self.observation_size,):
            raise ValueError(f"the policy expects an observation of {self.observation_size} values, got {x.shape}")
        for weight, bias in self.hidden:
            x = np.tanh(weight @ x + bias)
        weight, bias = self.action
        action: Float32Array = np.clip(weight @ x + bias, self.low, self.high).astype(np.float32)
        return action

    def arrays(self) -> dict[str, Float32Array]:
        named = {}
        for number, (weight, bias) in enumerate(self.hidden):
            named[f"hidden_{number}_weight"], named[f"hidden_{number}_bias"] = weight, bias
        named["action_weight"], named["action_bias"] = self.action
        return named


def policy_weights_of(model: PPO) -> PolicyWeights:
    """The deterministic policy of a trained SB3 PPO MlpPolicy; refuses any other architecture."""
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from torch import nn

    policy = model.policy
    if not isinstance(policy.features_extractor, FlattenExtractor):
        raise AgentArtifactError(
            f"expected a flatten features extractor, got {type(policy.features_extractor).__name__}"
        )
    if getattr(policy, "squash_output", False):
        raise AgentArtifactError("a squashed (tanh) action output is not supported")
    hidden = []
    for module in policy.mlp_extractor.policy_net:
        if isinstance(module, nn.Linear):
            hidden.append((_array(module.weight), _array(module.bias)))
        elif not isinstance(module, nn.Tanh):
            raise AgentArtifactError(f"expected Linear and Tanh layers in the policy network, got {module}")
    head = policy.action_net
    if not isinstance(head, nn.Linear):
        raise AgentArtifactError(f"expected a linear action head, got {head}")
    space = model.action_space
    low, high = float(np.min(space.low)), float(np.max(space.high))  # type: ignore[attr-defined]
    return PolicyWeights(tuple(hidden), (_array(head.weight), _array(head.bias)), low, high)


def pack(sb3_model: bytes, weights: PolicyWeights, layout: ObservationLayout) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write(archive, SB3_MEMBER, sb3_model)
        for name, array in weights.arrays().items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            _write(archive, f"policy/{name}.npy", member.getvalue())
        meta = {
            "hidden_layers": len(weights.hidden),
            "activation": "tanh",
            "low": weights.low,
            "high": weights.high,
            "observation": layout.as_dict(),
        }
        _write(archive, POLICY_META, json.dumps(meta, sort_keys=True).encode())
    return buffer.getvalue()


def unpack_policy(artifact: bytes) -> PolicyWeights:
    with _open(artifact) as archive:
        meta = json.loads(archive.read(POLICY_META))
        arrays = {
            name: np.load(io.BytesIO(archive.read(f"policy/{name}.npy")), allow_pickle=False)
            for name in _array_names(int(meta["hidden_layers"]))
        }
    hidden = tuple(
        (arrays[f"hidden_{number}_weight"], arrays[f"hidden_{number}_bias"]) for number in range(meta["hidden_layers"])
    )
    return PolicyWeights(
        hidden, (arrays["action_weight"], arrays["action_bias"]), float(meta["low"]), float(meta["high"])
    )


def unpack_layout(artifact: bytes, expected_version: int) -> ObservationLayout:
    """The observation layout the artifact's policy reads; AgentArtifactError unless it is `expected_version`."""
    with _open(artifact) as archive:
        meta = json.loads(archive.read(POLICY_META))
    stored = meta.get("observation")
    version = 1 if stored is None else int(stored["version"])
    if version != expected_version:
        raise AgentArtifactError(
            f"the agent reads observation layout {version}, and this version builds layout {expected_version} "
            "(held names in a band, market state): train the agent again"
        )
    return ObservationLayout(
        version=version,
        slots=int(stored["slots"]),
        features_per_slot=int(stored["features_per_slot"]),
        market_features=int(stored["market_features"]),
    )


def unpack_sb3(artifact: bytes) -> bytes:
    with _open(artifact) as archive:
        return archive.read(SB3_MEMBER)


def _open(artifact: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(artifact))
    except zipfile.BadZipFile as exc:
        raise AgentArtifactError(f"not an agent artifact (not a zip archive): {exc}") from exc
    names = set(archive.namelist())
    if SB3_MEMBER not in names or POLICY_META not in names:
        archive.close()
        raise AgentArtifactError(
            f"not an agent artifact: expected {SB3_MEMBER} and {POLICY_META}, found {sorted(names)}"
        )
    return archive


def _array_names(hidden_layers: int) -> list[str]:
    names = [f"hidden_{n}_{part}" for n in range(hidden_layers) for part in ("weight", "bias")]
    return [*names, "action_weight", "action_bias"]


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _array(parameter: Any) -> Float32Array:
    array: Float32Array = parameter.detach().cpu().numpy().astype(np.float32)
    return array
