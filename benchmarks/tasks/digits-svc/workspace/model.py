"""The artifact strop improves: an RBF SVC on standardised, PCA-reduced digits, built from params.json."""

import json
from pathlib import Path

from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def build_model(params=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    return make_pipeline(
        StandardScaler(),
        PCA(n_components=int(params["pca"]), random_state=0),
        SVC(C=params["C"], gamma=params["gamma"]),
    )
