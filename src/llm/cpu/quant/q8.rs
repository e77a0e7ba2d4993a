//! Q8_0 / Q4_0 / Q5_0 kernels: placeholder, being written.
