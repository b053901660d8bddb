"""PEO/LiTFSI polymer electrolyte made by this project with OpenMM.

``builder`` (chains, ions, packing) → ``forcefield`` (OPLS-AA, Åqvist, CL&P values) →
``system`` (the OpenMM System, exact geometric LJ mixing for Li⁺) → ``md`` (resumable
protocol, ``gdynbook simulate peo-litfsi``) → ``runs`` (loading and validation).
"""
