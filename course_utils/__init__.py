"""Companion package of the self-attention course.

Every notebook imports what earlier notebooks built from here, so the code a
learner derives by hand and the code later notebooks rely on are the same.

Dimension legend, used in code, comments and equations throughout:

    B  batch size (independent sequences)
    T  tokens in a sequence (Tq queries, Tk keys when they differ)
    C  model width (the size of one token's vector)
    H  number of attention heads
    D  head size (C = H * D); Dv the size of a value vector when it differs

Modules, one concept each:
    device           choosing cpu / cuda / mps, seeding       (notebooks 01, 03)
    numpy_attention  softmax and attention in NumPy            (notebooks 01, 02)
    attention        attention, masks and multi-head in torch  (notebooks 03-05)
    plotting         attention heatmaps and training curves
    timing           fair timings (warm-up, GPU synchronisation)
    checks           exercise checks that print one friendly line
    exercises        writes learner copies of the notebooks
    launch           the repository address, Colab and Binder links
    data             corpus, tokenizer and batches for the tiny GPT (notebook 06)
    gpt              the tiny GPT                              (notebook 06)
    training         training loop and learning-rate schedule  (notebook 06)
"""

__version__ = "0.1.0"
