"""Front ends over ``runtime.Detector`` for other engines (``integrations.ray``: Ray Data). Each
imports its optional package itself, so ``import detector`` needs none of them."""
