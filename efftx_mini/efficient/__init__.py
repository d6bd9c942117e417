"""Efficient attention (part III): every variant has the call of
:func:`efftx_mini.attention.scaled_dot_product_attention` plus ``causal=``.

- :mod:`.linear`, :mod:`.cosformer`, :mod:`.local`, :mod:`.linear_time` — linear-time and local attention (chapter 10)
- :mod:`.lra_model` — the encoder classifier of the offline Long Range Arena (chapter 10)
"""
