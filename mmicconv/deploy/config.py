"""The MMDeploy deploy config of an mmdet detector for ONNX Runtime (what MMDeploy's
``detection_onnxruntime_dynamic.py`` holds, written here as a dict: the wheel ships no configs)."""

from __future__ import annotations

from mmengine.config import Config

__all__ = ['onnxruntime_detection_config']


def onnxruntime_detection_config(opset: int = 11, dynamic: bool = True, max_per_img: int = 100,
                                 score_thr: float = 0.05, iou_thr: float = 0.5) -> Config:
    """An end-to-end ONNX Runtime deploy config for mmdet object detection.

    Args:
        opset: ONNX opset.
        dynamic: Batch, height and width are dynamic axes (keep-ratio resizes give
            images of several shapes); otherwise the export image's shape is fixed.
        max_per_img: Detections kept per image (mmdet's ``test_cfg.rcnn.max_per_img``).
        score_thr: Lowest score kept.
        iou_thr: IoU threshold of the in-graph NMS (ONNX ``NonMaxSuppression``).
    """
    dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
                    'dets': {0: 'batch', 1: 'num_dets'}, 'labels': {0: 'batch', 1: 'num_dets'}}
    onnx_config = dict(type='onnx', export_params=True, keep_initializers_as_inputs=False,
                       opset_version=opset, save_file='end2end.onnx', input_names=['input'],
                       output_names=['dets', 'labels'], input_shape=None, optimize=True)
    if dynamic:
        onnx_config['dynamic_axes'] = dynamic_axes
    post = dict(score_threshold=score_thr, confidence_threshold=0.005, iou_threshold=iou_thr,
                max_output_boxes_per_class=200, pre_top_k=5000, keep_top_k=max_per_img,
                background_label_id=-1)
    return Config(dict(onnx_config=onnx_config,
                       codebase_config=dict(type='mmdet', task='ObjectDetection', model_type='end2end',
                                            post_processing=post),
                       backend_config=dict(type='onnxruntime')))
