import anndata as ad
import numpy as np
import pandas as pd

from cscniche.export import scverse_conventions
from cscniche.palette import GREY, category_colours


def test_final_anndata_follows_scverse_conventions():
    """Empty-string categories become NaN; categorical columns get the figures' colours in uns, grey for
    undecided labels, fixed colours for known cell types."""
    obs = pd.DataFrame({"csc": pd.Categorical(["CSC-high", "", "CSC-low", ""]),
                        "cell_type": pd.Categorical(["malignant", "T cell", "unassigned", "malignant"]),
                        "score": [0.1, 0.2, 0.3, 0.4]}, index=[f"c{i}" for i in range(4)])
    adata = scverse_conventions(ad.AnnData(np.zeros((4, 2), dtype=np.float32), obs=obs))
    assert adata.obs["csc"].isna().tolist() == [False, True, False, True]
    assert list(adata.obs["csc"].cat.categories) == ["CSC-high", "CSC-low"]
    assert adata.uns["csc_colors"] == ["#CC3311", "#0077BB"]
    colours = dict(zip(adata.obs["cell_type"].cat.categories, adata.uns["cell_type_colors"], strict=True))
    assert colours == {"T cell": "#332288", "malignant": "#882255", "unassigned": GREY}
    assert "score_colors" not in adata.uns


def test_category_colours_are_stable_and_distinct():
    first = category_colours(["3", "10", "1", "2"])
    assert list(first) == ["1", "2", "3", "10"] and len(set(first.values())) == 4
    assert category_colours(["10", "2", "3", "1"]) == first  # order of appearance does not matter
    mixed = category_colours(["my type", "T cell", ""])
    assert mixed[""] == GREY and mixed["T cell"] == "#332288" and mixed["my type"] not in (GREY, "#332288")
