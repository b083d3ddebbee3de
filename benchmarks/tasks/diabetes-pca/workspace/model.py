"""The artifact strop improves: a regression pipeline for the diabetes data, built from params.json.

polynomial features (degree) → standardise → PCA (pca components) → ridge or k-nearest neighbours.
PCA cannot keep more components than there are features: with degree 1 (10 features)
any `pca` above 10 crashes. That region is what [constraints] rules out.
"""

import json
from pathlib import Path

from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler


def build_model(params=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    if params["model"] == "ridge":
        head = Ridge(alpha=params["alpha"])
    else:
        head = KNeighborsRegressor(n_neighbors=int(params["k"]), weights=params["weights"])
    return make_pipeline(
        PolynomialFeatures(degree=int(params["degree"]), include_bias=False),
        StandardScaler(),
        PCA(n_components=int(params["pca"]), random_state=0),
        head,
    )
