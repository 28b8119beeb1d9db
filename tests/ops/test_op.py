"""The registered operator ``torch.ops.mmicconv.ic_conv2d`` and what it enables:
opcheck, double backward, ``torch.compile(fullgraph=True)``, ``torch.export``, ONNX, no hidden state."""

from __future__ import annotations

import gc
import io
import random
import weakref

import pytest
import torch
from reference_impl import per_channel_dilations, random_entry, reference_ic_conv

from mmicconv.ops import EXPORT_FORMS, ICConv2d, export_form_as
from mmicconv.ops.extension import extension_error, load_extension
from mmicconv.ops.plan import phase_rows

ENTRY = {'(0, 0)': 3, '(2, 1)': 0, '(1, 3)': 4, '(4, 0)': 2}
NEEDS_KERNEL = pytest.mark.skipif(extension_error() is not None,
                                  reason=f'compiled kernel: {extension_error()}')


def conv_of(stride: int = 1, groups: int = 1, bias: bool = False, strategy: str = 'auto',
            dtype: torch.dtype = torch.float32) -> ICConv2d:
    entry = ENTRY if groups == 1 else {'(0, 0)': 1, '(2, 1)': 2}  # counts cardinality groups
    return ICConv2d(6, 9, stride=stride, groups=groups, bias=bias, pattern=entry,
                    strategy='loop').to(dtype).set_strategy(strategy)


@pytest.mark.parametrize('stride,groups,bias,dtype', [
    (1, 1, False, torch.float32), (2, 1, True, torch.float32), (1, 1, True, torch.float64),
    (3, 1, False, torch.float64), (1, 3, True, torch.float32)])
def test_opcheck(stride, groups, bias, dtype):
    """Schema, fake kernel, autograd registration and AOT dispatch (band kernel on CPU when built)."""
    conv = conv_of(stride, groups, bias, dtype=dtype)
    x = torch.randn(2, 6, 11, 13, dtype=dtype, requires_grad=True)
    args = (x, conv.weight, conv.bias, conv.ic_dilations, list(conv.stride), groups)
    result = torch.library.opcheck(torch.ops.mmicconv.ic_conv2d.default, args)
    assert set(result.values()) == {'SUCCESS'}, result
    expected = reference_ic_conv(x, conv.weight, conv.bias,
                                 per_channel_dilations(conv_entry(conv), 9), stride, groups)
    torch.testing.assert_close(torch.ops.mmicconv.ic_conv2d(*args), expected, atol=1e-5, rtol=1e-5)


def conv_entry(conv: ICConv2d) -> dict:
    return {f'({g.dilation_h - 1}, {g.dilation_w - 1})': g.channels for g in conv.pattern.groups}


@pytest.mark.parametrize('strategy,stride,groups', [('loop', 1, 1), ('loop', 2, 3), ('tap', 1, 1),
                                                    ('tap', 2, 1)])
def test_double_backward_of_pure_pytorch_strategies(strategy, stride, groups):
    conv = conv_of(stride, groups, bias=True, strategy=strategy, dtype=torch.float64)
    assert conv.active_strategy == strategy
    x = torch.randn(1, 6, 7, 8, dtype=torch.float64, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_(True)
    b = conv.bias.detach().clone().requires_grad_(True)

    def fn(x, w, b):
        return conv._impl.forward(x, w, b, conv.ic_dilations)

    assert torch.autograd.gradgradcheck(fn, (x, w, b))


@NEEDS_KERNEL
def test_double_backward_through_the_compiled_kernel_is_a_clear_error():
    conv = conv_of(strategy='band', dtype=torch.float64)
    x = torch.randn(1, 6, 7, 8, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(conv(x).square().sum(), x, create_graph=True)
    message = r"double backward .* not supported; use ICConv2d.set_strategy\('loop'\)"
    with pytest.raises(RuntimeError, match=message):
        gx.sum().backward()


def small_icresnet(strategy: str = 'auto'):
    """ResNet-18 layout, 8 base channels, a random IC pattern on all 16 3x3 convs."""
    pytest.importorskip('mmdet')
    from mmicconv.models.mmdet_backbones import ICResNet
    rng = random.Random(0)
    pattern = [random_entry(rng, 8 * 2 ** stage, max_dilation=4) for stage in range(4) for _ in range(4)]
    torch.manual_seed(0)
    return ICResNet(depth=18, base_channels=8, stem_channels=8, pattern=pattern, ic_strategy=strategy,
                    out_indices=(1, 3), norm_cfg=dict(type='BN', requires_grad=True))


def grads_of(model, x, run=None):
    """Outputs of ``run`` (default ``model``) and the gradients of ``model``'s parameters."""
    outs = (model if run is None else run)(x)
    loss = sum((o * torch.linspace(-1, 1, o.shape[1]).view(1, -1, 1, 1)).sum() for o in outs)
    loss.backward()
    return [o.detach() for o in outs], {n: p.grad.clone() for n, p in model.named_parameters()}


def test_compile_fullgraph_equal_outputs_and_grads():
    """``aot_eager``: dynamo (fullgraph) + AOTAutograd through the fake kernel and registered autograd."""
    model = small_icresnet().eval()
    x = torch.randn(2, 3, 40, 48)
    expected, expected_grads = grads_of(model, x)
    model.zero_grad()
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    actual, actual_grads = grads_of(model, x, run=compiled)
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for name, grad in expected_grads.items():
        torch.testing.assert_close(actual_grads[name], grad, atol=1e-4, rtol=1e-4, msg=name)


def test_export_equal_outputs_and_the_operator_in_the_graph():
    model = small_icresnet().eval()
    x = torch.randn(1, 3, 40, 48)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        for a, b in zip(program.module()(x), model(x)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    targets = {str(node.target) for node in program.graph.nodes if node.op == 'call_function'}
    has_op = 'mmicconv.ic_conv2d.default' in targets
    uses_op = any(getattr(m, 'active_strategy', None) == 'band' for m in model.modules())
    assert has_op == uses_op, targets


@pytest.mark.parametrize('form', EXPORT_FORMS)
def test_onnx_export_standard_ops_and_onnxruntime_equal(form):
    """Each export form writes standard ops only, the node count it claims, and runs in
    onnxruntime to PyTorch's outputs."""
    onnx = pytest.importorskip('onnx', reason='onnx is not installed (tools/install.sh installs it)')
    ort = pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (tools/install.sh)')
    model = small_icresnet().eval()
    x = torch.randn(1, 3, 40, 48)
    buffer = io.BytesIO()
    with export_form_as(form):
        torch.onnx.export(model, (x,), buffer, dynamo=False, input_names=['input'])
    graph = onnx.load_from_string(buffer.getvalue()).graph
    op_types = {node.op_type for node in graph.node}
    assert op_types <= {'Conv', 'Concat', 'Relu', 'Add', 'MaxPool', 'BatchNormalization', 'Constant',
                        'Identity'}, op_types
    segments = [len(m.spec.segments) for m in model.modules() if isinstance(m, ICConv2d)]
    plain_convs = sum(type(m) is torch.nn.Conv2d for m in model.modules())
    # taps: 9 one-by-one tap convs + 8 one-hot shifts per IC conv; one conv where one dilation
    ic_convs = sum(segments) if form == 'segments' else sum(17 if n > 1 else 1 for n in segments)
    assert sum(node.op_type == 'Conv' for node in graph.node) == ic_convs + plain_convs
    assert ('Concat' in op_types) == (form == 'segments')
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        for got, want in zip(outputs, model(x)):
            torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=1e-4)


def test_no_state_outlives_the_model():
    """Nothing global keeps a module, its plan or its tensors alive (the old scratch buffers did)."""
    conv = conv_of(stride=2)
    out = conv(torch.randn(1, 6, 64, 64))
    out.sum().backward()
    refs = [weakref.ref(t) for t in (conv, conv._impl, conv.weight, conv.ic_dilations)]
    del conv, out
    gc.collect()
    assert all(ref() is None for ref in refs)


@NEEDS_KERNEL
@pytest.mark.parametrize('seed', range(16))
def test_kernel_phase_tables_equal_the_python_plan(seed):
    """The kernel's per-phase row tables (what strided convs run) are plan.phase_rows, entry for entry."""
    rng = random.Random(seed)
    channels = rng.randint(1, 40)
    dilations = torch.tensor([[rng.randint(1, 7), rng.randint(1, 7)] for _ in range(channels)])
    stride = (rng.randint(1, 4), rng.randint(1, 4))
    expected = phase_rows(dilations, stride)
    tables = load_extension().phase_tables(dilations, *stride)
    assert [(p, q) for p, q, *_ in tables] == [t.phase for t in expected]
    for (_, _, rows, ptr, a, b), table in zip(tables, expected):
        for got, want in ((rows, table.rows), (ptr, table.ptr), (a, table.a), (b, table.b)):
            assert torch.equal(got, want)
