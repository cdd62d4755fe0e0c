"""Composable layers with infinite-width kernels (NNGP, SG-NTK, naive NTK) and finite versions.

    from kernelalg import layers as L
    net = L.serial(L.Conv((3, 3)), L.Activation("sign", "gaussian"), L.Conv((3, 3)),
                   L.Activation("sign", "gaussian"), L.GlobalAvgPool(), L.Dense(out=1))
    K = net(images)                      # K.nngp, K.sgntk, K.ntk for images of shape (N, H, W, C)
    K, dK = net.value_and_gradient(images, wrt=("sigma_w", "sigma_b", "psi.sigma"))
    params = net.initialize((H, W, C), width=256)
    net.empirical_kernel(params, images)  # J f J~ f^T of the finite network
"""

from kernelalg.layers.activation import Activation
from kernelalg.layers.core import Identity, Layer, Residual, Serial, Sum
from kernelalg.layers.linear import AvgPool, Conv, Dense, Flatten, GlobalAvgPool
from kernelalg.layers.network import Network, mlp, serial

__all__ = ["Activation", "AvgPool", "Conv", "Dense", "Flatten", "GlobalAvgPool", "Identity", "Layer", "Network",
           "Residual", "Serial", "Sum", "mlp", "serial"]
