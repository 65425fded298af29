"""The chat question the tests ask the packaged 135M model, chosen so that every CPU answers it alike.

Greedy decoding takes the top token, and where the top two are close the machine's kernels decide
(llama.cpp's 4-bit dot products differ between AVX2 and AVX-512). "What is the capital of France?" opens
with "The" only 0.09 logits ahead of "La": AVX2 machines answered in French. Up to "Tokyo", every token of
this question's greedy answer leads by at least 2.5 logits (the dequantized GGUF in fp32, with the default
system prompt and with none), and llama.cpp on an AVX2 CPU answers "The capital of Japan is Tokyo."
"""

QUESTION = "What is the capital of Japan?"
ANSWER = "Tokyo"
