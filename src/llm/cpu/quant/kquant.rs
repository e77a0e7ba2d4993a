//! K-quant (Q4_K, Q5_K, Q6_K) kernels: placeholder, being written.
