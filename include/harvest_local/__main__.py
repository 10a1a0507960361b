"""``python -m harvest_local env``: the ``KEY=value`` lines for ``export $(make -s env)``."""

import sys

from harvest_local.environment import env_lines

if __name__ == "__main__":
    if sys.argv[1:] != ["env"]:
        sys.exit("usage: python -m harvest_local env")
    sys.stdout.write("\n".join(env_lines()) + "\n")
