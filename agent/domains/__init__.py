"""Search domains for the evolutionary engine: each one keeps its genome, operators and
fitness together in its own package (`numerics`, ...)."""
