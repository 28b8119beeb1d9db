# configs/toy/r50-w16_toy-cls-64px.py with an IC backbone: the project's hand-made toy
# pattern at this width (pattern_zoo/toy/ic_resnet50-w16_toy.json, made by
# tools/make_toy_pattern.py --base-channels 16; not searched, no accuracy claim).
_base_ = './r50-w16_toy-cls-64px.py'

model = dict(backbone=dict(type='ICResNet', pattern='toy/ic_resnet50-w16_toy.json'))
