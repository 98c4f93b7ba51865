"""The Python route a user would otherwise take: mygrad's dirac, then np.save or
safetensors.numpy.save_file.  usage: reference.py O I k1 k2 OUT.{npy,safetensors}"""
import sys

import mygrad
import numpy as np

*dims, out = sys.argv[1:]
w = mygrad.nnet.initializers.dirac(*map(int, dims), dtype=np.float32).data
if out.endswith(".npy"):
    np.save(out, w)
else:
    from safetensors.numpy import save_file

    save_file({"weight": w}, out)
