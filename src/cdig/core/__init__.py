"""The framework-free core: integration rules, the path integral, targets, checks, the result, errors.

Nothing below here imports torch, TensorFlow or JAX. (This file makes ``cdig.core`` a regular
package, which the API reference's source analysis needs; it holds no code.)
"""
