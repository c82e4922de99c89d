"""Run the engine (meant for `accelerate launch`) and dump this process's final G and D weights."""

import sys

from safetensors.torch import save_file

from avgen.train.config import load_config
from avgen.train.engine import train


def main() -> None:
    cfg_path, out_prefix, *overrides = sys.argv[1:]
    result = train(load_config(cfg_path, overrides), cpu=True)
    tensors = {f"G.{k}": v.detach().contiguous() for k, v in result["generator"].state_dict().items()}
    if result["discriminator"] is not None:
        tensors.update({f"D.{k}": v.detach().contiguous() for k, v in result["discriminator"].state_dict().items()})
    save_file(tensors, f"{out_prefix}_rank{result['process_index']}.safetensors", metadata={"step": str(result["step"])})


if __name__ == "__main__":
    main()
