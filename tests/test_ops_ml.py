"""ops/ml.py: ai.onnx.ml models (SPEC v1.1 §2), on nodes built here and on scikit-learn models
converted with skl2onnx, each number counted independently: tree splits from the fitted
estimator, linear sizes from coef_, support vectors from the SVC."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import region_bits, value
from op_models import units
from spec_chords import spec_pieces

ML = "ai.onnx.ml"
RBF_PIECES = spec_pieces(lambda s: np.exp(-s), 0, 8)  # exp(−γr) over γr ∈ [0, B]


def _ml_model(nodes, inputs, outputs, inits=(), ml_opset=3, opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(ML, ml_opset)])


def _leaf(op, x_shape, outputs, ml_opset=3, **attrs):
    """The analysed leaf of one ai.onnx.ml `op` over a float input X."""
    node = helper.make_node(op, ["X"], [o.name for o in outputs], name=f"/{op}", domain=ML, **attrs)
    r = onnxlayer.analyze(_ml_model([node], [value("X", *x_shape)], outputs, ml_opset=ml_opset))
    assert r.summary.opaque_leaves == 0
    (leaf,) = r.leaves
    return leaf


# ----------------------------------------------------------------------------- trees

#: Two trees: (f0 ≤ 0.5) in both (also as < 0.5: the same hyperplane) and (f1 ≤ 2): S = 2.
TWO_TREES = dict(nodes_treeids=[0, 0, 0, 1, 1, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2, 3, 4],
                 nodes_featureids=[0, 0, 0, 0, 1, 0, 0, 0], nodes_values=[0.5, 0, 0, 0.5, 2.0, 0, 0, 0],
                 nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"],
                 nodes_truenodeids=[1, 0, 0, 1, 2, 0, 0, 0], nodes_falsenodeids=[2, 0, 0, 4, 3, 0, 0, 0],
                 target_treeids=[0, 0, 1, 1, 1], target_nodeids=[1, 2, 2, 3, 4], target_ids=[0] * 5,
                 target_weights=[1.0, 2.0, 3.0, 4.0, 5.0], n_targets=1)


def test_tree_ensemble_counts_distinct_splits():
    """S = 2 units of 2 pieces per sample; the output is piecewise constant (rank 0, d = 0)."""
    leaf = _leaf("TreeEnsembleRegressor", (1, 3), [value("Y", 1, 1)], **TWO_TREES)
    assert (leaf.kind, units(leaf), leaf.rank_cap, leaf.d_out) == ("pwl", [(2, 2)], 0, 0)
    # three samples: each is cut by the same S hyperplanes
    assert units(_leaf("TreeEnsembleRegressor", (3, 3), [value("Y", 3, 1)], **TWO_TREES)) == [(6, 2)]


def test_tree_ensemble_probe_reads_the_side_of_each_split():
    """The probe's pattern: for each distinct split (f0 at 0.5, f1 at 2), whether x_f lies above it."""
    pytest.importorskip("onnxruntime")
    from onnxlayer.probe.run import setup_probe

    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], name="/trees", domain=ML, **TWO_TREES)
    m = _ml_model([node], [value("X", "N", 3)], [value("Y", "N", 1)])
    setup = setup_probe(m, provider="cpu")
    (pattern,) = setup.patterns
    x = np.random.default_rng(0).standard_normal((64, 3)) * 3
    codes = pattern.codes(setup.engine.run(x))[0]
    assert codes.tolist() == np.stack([x[:, 0] > 0.5, x[:, 1] > 2.0], axis=1).astype(int).tolist()


def test_tree_ensemble_v5_set_membership_tests_each_member():
    """TreeEnsemble (ml opset 5): a LEQ split on f0 at 1.5 and a membership split of f1 in {1, 2, 3}: S = 4."""
    def tensor(values, dtype, name):
        return numpy_helper.from_array(np.array(values, dtype), name)

    attrs = dict(tree_roots=[0], nodes_featureids=[0, 1], nodes_modes=tensor([0, 6], np.uint8, "modes"),
                 nodes_splits=tensor([1.5, 0.0], np.float32, "splits"), nodes_truenodeids=[1, 0],
                 nodes_trueleafs=[0, 1], nodes_falsenodeids=[1, 1], nodes_falseleafs=[1, 1],
                 membership_values=tensor([1.0, 2.0, 3.0], np.float32, "members"),
                 leaf_targetids=[0, 0], leaf_weights=tensor([1.0, 2.0], np.float32, "weights"), n_targets=1)
    leaf = _leaf("TreeEnsemble", (1, 2), [value("Y", 1, 1)], ml_opset=5, **attrs)
    assert units(leaf) == [(4, 2)] and leaf.rank_cap == 0


# ----------------------------------------------------------------------------- linear models


@pytest.mark.parametrize("transform, extra, rank", [
    ("NONE", [], 3),
    ("LOGISTIC", [(3, 9)], 3),  # a sigmoid per score (SPEC §2 table: 9 pieces)
    ("SOFTMAX", [(3, 8)], 2),  # Softmax's exps on [-B, 0] (8 pieces); its max is the label's argmax
])
def test_linear_classifier_label_and_post_transform(transform, extra, rank):
    """3 classes over 4 features: scores linear (rank ≤ min(4, 3)), the label their argmax (3 pieces)."""
    leaf = _leaf("LinearClassifier", (1, 4), [value("label", 1, elem=TensorProto.INT64), value("scores", 1, 3)],
                 coefficients=[0.1] * 12, intercepts=[0.0] * 3, classlabels_ints=[0, 1, 2], post_transform=transform)
    assert units(leaf) == [(1, 3)] + extra and leaf.rank_cap == rank


def test_linear_regressor_is_linear():
    leaf = _leaf("LinearRegressor", (1, 4), [value("Y", 1, 2)], coefficients=[0.5] * 8, intercepts=[0.0, 1.0], targets=2)
    assert (leaf.kind, units(leaf), leaf.rank_cap) == ("linear", [], 2)


def test_scaler_is_linear_and_normalizer_l2_a_normalization():
    assert _leaf("Scaler", (1, 4), [value("Y", 1, 4)], offset=[1.0] * 4, scale=[2.0] * 4).kind == "linear"
    l2 = _leaf("Normalizer", (2, 4), [value("Y", 2, 4)], norm="L2")
    assert (l2.kind, units(l2), l2.rank_cap) == ("normalization", [(2, 14)], 6)  # 1/√x: 14 pieces
    l1 = _leaf("Normalizer", (1, 4), [value("Y", 1, 4)], norm="L1")
    assert units(l1) == [(4, 2), (1, 25)]
    top = _leaf("Normalizer", (1, 4), [value("Y", 1, 4)], norm="MAX")
    assert units(top) == [(1, 4), (1, 25)]


# ----------------------------------------------------------------------------- SVMs


def test_svm_classifier_rbf_one_unit_per_support_vector():
    """5 support vectors, 3 classes (one-vs-one: 3 pairwise decisions, a sign each)."""
    leaf = _leaf("SVMClassifier", (1, 2), [value("label", 1, elem=TensorProto.INT64), value("scores", 1, 3)],
                 kernel_type="RBF", kernel_params=[0.5, 0.0, 3.0], support_vectors=[0.1] * 10,
                 vectors_per_class=[2, 2, 1], coefficients=[1.0] * 10, rho=[0.0] * 3, classlabels_ints=[0, 1, 2])
    assert leaf.kind == "smooth" and units(leaf) == [(5, RBF_PIECES), (3, 2)] and leaf.rank_cap == 2


def test_svm_regressor_kernels():
    common = dict(support_vectors=[0.1] * 6, coefficients=[1.0] * 3, rho=[0.0], n_supports=3)
    poly = _leaf("SVMRegressor", (1, 2), [value("Y", 1, 1)], kernel_type="POLY", kernel_params=[1.0, 0.0, 3.0], **common)
    assert units(poly) == [(3, spec_pieces(lambda t: t**3, -8, 8))]
    sigmoid = _leaf("SVMRegressor", (1, 2), [value("Y", 1, 1)], kernel_type="SIGMOID", kernel_params=[1.0, 0.0, 0.0], **common)
    assert units(sigmoid) == [(3, 13)]  # tanh: 13 pieces (SPEC §2 table)
    linear = _leaf("SVMRegressor", (1, 2), [value("Y", 1, 1)], kernel_type="LINEAR", **common)
    assert linear.kind == "linear" and units(linear) == [] and linear.rank_cap == 1


# ----------------------------------------------------------------------------- encoders


def test_binarizer_is_a_threshold():
    leaf = _leaf("Binarizer", (1, 4), [value("Y", 1, 4)], threshold=0.5)
    assert units(leaf) == [(4, 2)] and leaf.rank_cap == 0


def test_one_hot_encoder_of_integer_inputs_starts_a_source():
    """Categories from an int64 input: the float one-hot is the first data tensor (SPEC §1), the
    Gemm after it the only leaf."""
    w = numpy_helper.from_array(np.ones((6, 2), np.float32), "w")
    nodes = [helper.make_node("OneHotEncoder", ["ids"], ["onehot"], name="/ohe", domain=ML, cats_int64s=[1, 2, 3], zeros=1),
             helper.make_node("Reshape", ["onehot", "shape"], ["flat"], name="/flat"),
             helper.make_node("Gemm", ["flat", "w"], ["y"], name="/gemm")]
    shape = numpy_helper.from_array(np.array([1, 6], np.int64), "shape")
    m = _ml_model(nodes, [value("ids", 1, 2, elem=TensorProto.INT64)], [value("y", 1, 2)], [w, shape])
    m.graph.value_info.append(value("onehot", 1, 2, 3))
    r = onnxlayer.analyze(m)
    assert [leaf.op_type for leaf in r.leaves] == ["Reshape", "Gemm"] and r.summary.opaque_leaves == 0


@pytest.mark.parametrize("op, attrs", [
    ("OneHotEncoder", dict(cats_int64s=[1, 2, 3], zeros=1)),
    ("LabelEncoder", dict(keys_floats=[1.0, 2.0], values_floats=[10.0, 20.0])),
])
def test_encoders_of_float_data_keep_no_rank(op, attrs):
    out = value("Y", 1, 4, 3) if op == "OneHotEncoder" else value("Y", 1, 4)
    leaf = _leaf(op, (1, 4), [out], **attrs)
    assert leaf.kind == "structural" and leaf.rank_cap == 0


def test_feature_plumbing_moves_values():
    imputer = _leaf("Imputer", (1, 4), [value("Y", 1, 4)], imputed_value_floats=[0.0] * 4, replaced_value_float=np.nan)
    assert imputer.kind == "structural" and imputer.rank_cap == 4
    nodes = [helper.make_node("ArrayFeatureExtractor", ["X", "cols"], ["Y"], name="/afe", domain=ML)]
    cols = numpy_helper.from_array(np.array([0, 2], np.int64), "cols")
    (leaf,) = onnxlayer.analyze(_ml_model(nodes, [value("X", 1, 4)], [value("Y", 1, 2)], [cols])).leaves
    assert leaf.kind == "structural" and leaf.rank_cap == 2


def test_feature_vectorizer_concatenates():
    node = helper.make_node("FeatureVectorizer", ["a", "b"], ["Y"], name="/fv", domain=ML, inputdimensions=[2, 3])
    (leaf,) = onnxlayer.analyze(_ml_model([node], [value("a", 1, 2), value("b", 1, 3)], [value("Y", 1, 5)])).leaves
    assert leaf.kind == "structural" and leaf.rank_cap == 5 and leaf.d_out == 5


def test_category_mapper_of_strings_is_not_data():
    """Strings mapped to integers beside a float path: no leaf of their own."""
    nodes = [helper.make_node("CategoryMapper", ["s"], ["ids"], name="/cats", domain=ML, cats_strings=["a", "b"],
                              cats_int64s=[0, 1]),
             helper.make_node("Relu", ["X"], ["Y"], name="/relu")]
    r = onnxlayer.analyze(_ml_model(nodes, [value("X", 1, 4), value("s", 1, 2, elem=TensorProto.STRING)],
                                    [value("Y", 1, 4), value("ids", 1, 2, elem=TensorProto.INT64)]))
    assert [leaf.op_type for leaf in r.leaves] == ["Relu"] and r.summary.opaque_leaves == 0


# ----------------------------------------------------------------------------- output shapes ONNX leaves open


def _undeclared(nodes, x_dims, outputs, input_shapes=None, ml_opset=3):
    """Analyse `nodes` over X of dims `x_dims` (a name for an open dim), graph outputs declared
    without a shape: preparation must find them."""
    graph_outputs = [helper.make_tensor_value_info(name, elem, None) for name, elem in outputs]
    m = _ml_model(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_dims))], graph_outputs,
                  ml_opset=ml_opset)
    return onnxlayer.analyze(m, input_shapes)


def test_open_batch_of_a_model_is_its_inputs_rows():
    """X [N, 3], N = 3 given, through a Scaler (no ONNX shape function) into TreeEnsembleRegressor
    (none either at ml opset 1) and LinearClassifier (ONNX makes up a new symbol for its dim 0):
    one output row per input row, so 3·S split units, and the label [3] and scores [3, 2]."""
    scale = helper.make_node("Scaler", ["X"], ["s"], name="/scale", domain=ML, offset=[0.0] * 3, scale=[1.0] * 3)
    trees = helper.make_node("TreeEnsembleRegressor", ["s"], ["Y"], name="/trees", domain=ML, **TWO_TREES)
    linear = helper.make_node("LinearClassifier", ["s"], ["label", "scores"], name="/linear", domain=ML,
                              coefficients=[0.1] * 6, intercepts=[0.0, 0.0], classlabels_ints=[0, 1])
    r = _undeclared([scale, trees, linear], ("N", 3), [("Y", TensorProto.FLOAT), ("label", TensorProto.INT64),
                                                       ("scores", TensorProto.FLOAT)], {"X": (3, 3)}, ml_opset=1)
    assert units(_ml_leaf(r, "TreeEnsembleRegressor")) == [(3 * 2, 2)] and _ml_leaf(r, "TreeEnsembleRegressor").out_size == 3
    assert _ml_leaf(r, "LinearClassifier").out_size == 3 + 3 * 2


def test_open_shapes_of_scalers_and_svm_scores():
    """Scaler and Normalizer (no ONNX shape function) keep X's shape; SVMClassifier's scores,
    which ONNX does not infer, are one row per sample of C(C−1)/2 = 6 one-vs-one decisions for
    C = 4 classes (ONNX's reference implementation and onnxruntime agree)."""
    scale = helper.make_node("Scaler", ["X"], ["s"], name="/scale", domain=ML, offset=[0.5] * 2, scale=[2.0] * 2)
    norm = helper.make_node("Normalizer", ["s"], ["n"], name="/norm", domain=ML, norm="L2")
    svm = helper.make_node("SVMClassifier", ["n"], ["label", "scores"], name="/svm", domain=ML, kernel_type="RBF",
                           kernel_params=[0.5, 0.0, 3.0], support_vectors=[0.1] * 8, vectors_per_class=[1, 1, 1, 1],
                           coefficients=[1.0] * 12, rho=[0.0] * 6, classlabels_ints=[0, 1, 2, 3])
    r = _undeclared([scale, norm, svm], ("N", 2), [("label", TensorProto.INT64), ("scores", TensorProto.FLOAT)])
    assert (_ml_leaf(r, "Scaler").out_size, _ml_leaf(r, "Normalizer").out_size) == (2, 2)
    leaf = _ml_leaf(r, "SVMClassifier")
    assert units(leaf) == [(4, RBF_PIECES), (6, 2)] and leaf.out_size == 1 + 6


def test_a_rank_one_input_is_one_row():
    """X [4] (no batch axis): a Scaler's output is [4], a LinearRegressor's [1, 2]."""
    scale = helper.make_node("Scaler", ["X"], ["s"], name="/scale", domain=ML, offset=[0.0] * 4, scale=[1.0] * 4)
    reg = helper.make_node("LinearRegressor", ["s"], ["Y"], name="/reg", domain=ML, coefficients=[0.5] * 8,
                           intercepts=[0.0, 1.0], targets=2)
    r = _undeclared([scale, reg], (4,), [("Y", TensorProto.FLOAT)])
    assert (_ml_leaf(r, "Scaler").out_size, _ml_leaf(r, "LinearRegressor").out_size) == (4, 2)


# ----------------------------------------------------------------------------- scikit-learn models through skl2onnx


def _sklearn():
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx

    return to_onnx


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)  # 3 classes


def _converted(estimator, x):
    """The estimator as skl2onnx writes it (no ZipMap: probabilities as a tensor)."""
    to_onnx = _sklearn()
    from sklearn.base import is_classifier

    with warnings.catch_warnings():  # skl2onnx reads SVC's probA_, deprecated in scikit-learn 1.9
        warnings.simplefilter("ignore", FutureWarning)
        return to_onnx(estimator, x[:1], options={"zipmap": False} if is_classifier(estimator) else None)


def _ml_node_alone(m: onnx.ModelProto, op: str, outputs) -> onnxlayer.AnalysisResult:
    """The converted model's `op` node analysed alone over X [1, F], its outputs declared
    (`outputs`: (shape, element type) per output): the rule on the converter's own attributes."""
    (node,) = [n for n in m.graph.node if n.domain == ML and n.op_type == op]
    features = m.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    declared = [helper.make_tensor_value_info(name, elem, list(shape)) for name, (shape, elem) in zip(node.output, outputs)]
    model = _ml_model([node], [value(node.input[0], 1, features)], declared, opset=17,
                      ml_opset=next(o.version for o in m.opset_import if o.domain == ML))
    return onnxlayer.analyze(model)


def _distinct_splits(trees) -> int:
    """Distinct (feature, threshold) splits of fitted sklearn trees, thresholds as the float32
    the ONNX node stores (sklearn compares float32 inputs, so those are the same hyperplanes)."""
    splits = set()
    for tree in trees:
        t = tree.tree_
        internal = t.feature >= 0
        splits.update(zip(t.feature[internal].tolist(), np.float32(t.threshold[internal]).tolist()))
    return len(splits)


LABEL_AND_SCORES = [((1,), TensorProto.INT64), ((1, 3), TensorProto.FLOAT)]


def test_random_forest_units_are_its_distinct_splits():
    from sklearn.ensemble import RandomForestClassifier

    x, y = _data()
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    r = _ml_node_alone(_converted(forest, x), "TreeEnsembleClassifier", LABEL_AND_SCORES)
    (leaf,) = r.leaves
    assert units(leaf) == [(_distinct_splits(forest.estimators_), 2)] and leaf.rank_cap == 0
    assert r.summary.opaque_leaves == 0 and r.summary.output_dim == 3


def test_gradient_boosting_units_are_its_distinct_splits():
    from sklearn.ensemble import GradientBoostingRegressor

    x, _ = _data()
    boost = GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0).fit(x, x[:, 0] * x[:, 1])
    (leaf,) = _ml_node_alone(_converted(boost, x), "TreeEnsembleRegressor", [((1, 1), TensorProto.FLOAT)]).leaves
    assert units(leaf) == [(_distinct_splits(boost.estimators_.ravel()), 2)] and leaf.d_out == 0


def test_logistic_regression_is_linear_scores_an_argmax_and_a_softmax():
    """skl2onnx writes multinomial LogisticRegression as LinearClassifier(post_transform SOFTMAX):
    the scores are linear (rank ≤ min(F, K) − 1 after the softmax), the label an argmax of K pieces,
    and K exps on [-B, 0] (8 pieces, SPEC §2)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression().fit(x, y)
    classes, features = model.coef_.shape
    (leaf,) = _ml_node_alone(_converted(model, x), "LinearClassifier", LABEL_AND_SCORES).leaves
    assert leaf.op_type == "LinearClassifier"
    assert units(leaf) == [(1, classes), (classes, 8)] and leaf.rank_cap == min(features, classes - 1)
    assert leaf.d_in == features


def test_linear_regression_is_linear():
    from sklearn.linear_model import LinearRegression

    x, _ = _data()
    model = LinearRegression().fit(x, x @ np.arange(4, dtype=np.float32))
    r = _ml_node_alone(_converted(model, x), "LinearRegressor", [((1, 1), TensorProto.FLOAT)])
    (leaf,) = r.leaves
    assert (leaf.kind, units(leaf), r.summary.complexity_bits) == ("linear", [], 0)
    assert (leaf.d_in, leaf.rank_cap) == (model.coef_.size, min(model.coef_.size, 1))


def test_svc_rbf_one_unit_per_support_vector():
    from sklearn.svm import SVC

    x, y = _data()
    svc = SVC(kernel="rbf").fit(x, y)
    (leaf,) = _ml_node_alone(_converted(svc, x), "SVMClassifier", LABEL_AND_SCORES).leaves
    kernel, decisions = units(leaf)
    assert kernel == (int(svc.n_support_.sum()), RBF_PIECES) and kernel[0] == svc.support_vectors_.shape[0]
    assert decisions == (3, 2)  # one-vs-one: 3 pairwise decisions for 3 classes


def _pipeline(x, y):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = x.copy()
    x[:, 3] = np.arange(len(x)) % 3  # a categorical column
    pre = ColumnTransformer([("num", StandardScaler(), [0, 1, 2]), ("cat", OneHotEncoder(), [3])])
    return x, Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(x, y)


def _analysed_whole(m: onnx.ModelProto) -> onnxlayer.AnalysisResult:
    """The converted file itself, as skl2onnx wrote it: X [None, F], the batch 1 (SPEC §1)."""
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 0  # left open by the converter
    r = onnxlayer.analyze(m)
    assert r.summary.opaque_leaves == 0
    return r


def _ml_leaf(r: onnxlayer.AnalysisResult, op: str):
    (leaf,) = [leaf for leaf in r.leaves if leaf.op_type == op]
    return leaf


def test_converted_forest_analyses_whole():
    """The forest alone in the file: S distinct splits, counted from the fitted trees, cut the
    F = 4 dimensional input: C = c(S, 2, 4); probabilities [1, 3] (dim 0: the batch, 1)."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = _data()
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    r = _analysed_whole(_converted(forest, x))
    splits = _distinct_splits(forest.estimators_)
    (leaf,) = r.leaves
    assert units(leaf) == [(splits, 2)] and leaf.rank_cap == 0 and leaf.d_in == 4
    assert r.summary.input_dim == 4 and r.summary.output_dim == 3
    assert r.summary.complexity_bits == pytest.approx(region_bits(splits, 2, 4), rel=1e-12)


def test_converted_linear_regression_analyses_whole():
    """x·w + b: linear, C = 0, one output per sample."""
    from sklearn.linear_model import LinearRegression

    x, _ = _data()
    r = _analysed_whole(_converted(LinearRegression().fit(x, x[:, 0]), x))
    (leaf,) = r.leaves
    assert (leaf.kind, units(leaf), r.summary.complexity_bits) == ("linear", [], 0)
    assert (r.summary.input_dim, r.summary.output_dim, leaf.d_out) == (4, 1, 1)


def test_converted_svc_analyses_whole():
    """RBF SVC over 3 classes: the SVMClassifier is smooth, one exp(−γr) unit per support vector
    and a sign per pairwise decision, on the full input: c(n_SV, p_rbf, 4) + c(3, 2, 4). Its
    scores, whose width ONNX does not infer, are [1, 3] (3 one-vs-one decisions)."""
    from sklearn.svm import SVC

    x, y = _data()
    svc = SVC(kernel="rbf").fit(x, y)
    r = _analysed_whole(_converted(svc, x))
    leaf = _ml_leaf(r, "SVMClassifier")
    vectors = svc.support_vectors_.shape[0]
    assert leaf.kind == "smooth" and units(leaf) == [(vectors, RBF_PIECES), (3, 2)] and leaf.d_in == 4
    assert leaf.complexity_bits == pytest.approx(region_bits(vectors, RBF_PIECES, 4) + region_bits(3, 2, 4), rel=1e-12)
    assert leaf.out_size == 1 + 3  # the label and the 3 decisions of the one sample
    assert r.summary.output_dim == 3  # the probabilities


def test_converted_pipeline_analyses_whole():
    """StandardScaler (3 columns) and OneHotEncoder (1 column, 3 categories) through a
    ColumnTransformer, then LogisticRegression: the scaled columns carry d = 3, the one-hot of a
    float column is piecewise constant (rank 0), so the classifier sees d = 3; its units are the
    label's argmax over K = 3 classes and K exps (SPEC §2: 8 pieces)."""
    x, y = _data()
    x_cat, pipe = _pipeline(x, y)
    r = _analysed_whole(_converted(pipe, x_cat))
    assert _ml_leaf(r, "Scaler").kind == "linear"
    classes = len(pipe.classes_)
    leaf = _ml_leaf(r, "LinearClassifier")
    assert units(leaf) == [(1, classes), (classes, 8)] and leaf.d_in == 3
    assert r.summary.input_dim == 4 and r.summary.output_dim == classes


def test_converted_file_through_the_cli(tmp_path, capsys):
    """`onnxlayer analyze` on a converted file: exit 0, nothing on stderr."""
    from sklearn.ensemble import RandomForestClassifier

    from onnxlayer.cli import main

    x, y = _data()
    path = tmp_path / "forest.onnx"
    onnx.save(_converted(RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(x, y), x), path)
    assert main(["analyze", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "TreeEnsembleClassifier" in out
    proc = subprocess.run([sys.executable, "-m", "onnxlayer", "analyze", str(path), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "") and json.loads(proc.stdout)["summary"]["opaque_leaves"] == 0
