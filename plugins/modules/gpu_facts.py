#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_facts
short_description: Gather facts about NVIDIA and AMD GPUs, their drivers and MIG devices
version_added: 0.1.0
author: inferno.runners developers (@inferno-runners)
description:
  - Reads C(nvidia-smi -q -x), the loaded kernel module in C(/proc/driver/nvidia/version) and the
    PCI bus in sysfs, and returns them as RV(ansible_facts.nvidia). C(nvidia-smi -L) runs only when
    a GPU has MIG devices, and C(nvidia-smi --query-gpu=uuid,compute_cap) only for a GPU model whose
    compute capability this module does not know, so a host without MIG runs C(nvidia-smi) once.
  - Reads C(rocm-smi --showproductname --showmeminfo vram --showbus --showdriverversion --json), the
    C(amdgpu) kernel module in C(/sys/module/amdgpu) and the PCI bus, and returns them as
    RV(ansible_facts.amd).
  - Sums both up for roles that do not care about the vendor, in RV(ansible_facts.gpu_vendor),
    RV(ansible_facts.gpu_count) and RV(ansible_facts.gpu_runner_labels), ready-made labels for a
    self-hosted GitHub Actions runner.
  - Works before any driver is installed, so a play can decide whether to install one. GPUs on the
    PCI bus are reported with the kernel driver bound to them (for example V(nvidia), V(nouveau),
    V(amdgpu), V(vfio-pci) or none).
  - Reports why a driver cannot be used, in RV(ansible_facts.nvidia.driver.state) and
    RV(ansible_facts.amd.driver.state), instead of failing, unless O(fail_on_error=true).
  - Only values that describe the configuration are gathered. Temperatures, utilization and memory
    in use change from one run to the next and are left out.
options:
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable.
      - When not set, C(nvidia-smi) is looked up in E(PATH) and the sbin directories; not finding it
        is not an error (the driver state is then V(not_installed) or V(no_nvidia_smi)).
      - When set, the file must exist and be executable.
    type: path
  rocm_smi_path:
    description:
      - Path of the C(rocm-smi) executable.
      - When not set, C(rocm-smi) is looked up in E(PATH), C(/opt/rocm/bin) and the sbin
        directories; not finding it is not an error (the AMD driver state is then V(not_installed)
        or V(no_rocm_smi)).
      - When set, the file must exist and be executable.
    type: path
  timeout:
    description:
      - Seconds each C(nvidia-smi) or C(rocm-smi) call may take before it is abandoned.
      - C(nvidia-smi) blocks indefinitely when a GPU has fallen off the bus. The driver state is then
        V(unresponsive).
      - Without persistence mode, initialising many GPUs takes several seconds per call.
    type: int
    default: 60
  fail_on_error:
    description:
      - Fail when C(nvidia-smi) or C(rocm-smi) is installed but cannot describe the GPUs (driver
        states V(not_loaded), V(version_mismatch), V(unresponsive) and V(error)).
      - When V(false), those states are returned with a warning so that the play can repair the
        driver.
    type: bool
    default: false
extends_documentation_fragment:
  - inferno.runners.attributes
  - inferno.runners.attributes.info_module
  - inferno.runners.attributes.facts
notes:
  - Runs unprivileged; C(nvidia-smi), C(rocm-smi) and sysfs are readable by any user.
  - The compute capability of the models in the product table of C(docs/gpu_facts.md) (A100, H100, T4,
    L40S, RTX 4090 and the like) is taken from NVIDIA's published values; other models are asked with
    C(nvidia-smi --query-gpu=compute_cap), which needs driver R510 or later (older drivers give V(null)).
  - GPUs are listed in C(nvidia-smi) order (PCI bus order). CUDA numbers devices fastest first
    unless E(CUDA_DEVICE_ORDER=PCI_BUS_ID) is set, which is why
    RV(ansible_facts.nvidia.cuda_devices) lists UUIDs.
  - With GPUs of both vendors, RV(ansible_facts.gpu_vendor) is the vendor with more GPUs, and NVIDIA
    on a tie; an AMD processor's integrated graphics counts as an AMD GPU.
seealso:
  - name: nvidia-smi documentation
    description: Reference of the queries this module runs.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
  - name: NVIDIA Multi-Instance GPU user guide
    description: How MIG devices are created and addressed by CUDA.
    link: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
  - name: CUDA GPU compute capability
    description: The compute capability and architecture of each NVIDIA GPU.
    link: https://developer.nvidia.com/cuda-gpus
  - name: ROCm SMI documentation
    description: Reference of the rocm-smi command line.
    link: https://rocm.docs.amd.com/projects/rocm_smi_lib/en/latest/
"""

EXAMPLES = r"""
- name: Gather GPU facts
  inferno.runners.gpu_facts:

- name: Show what the host offers
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.gpu_count }} {{ ansible_facts.gpu_vendor }} GPU(s),
      driver {{ ansible_facts.nvidia.driver.state }} {{ ansible_facts.nvidia.driver.version }},
      {{ ansible_facts.nvidia.gpus | map(attribute='name') | list }}

- name: Give the runner labels that describe its GPUs (gpu, gpu:nvidia, gpu:h100, gpu-count:8, ...)
  inferno.runners.github_runner:
    organization: octo-org
    name: "{{ inventory_hostname }}"
    labels: "{{ ansible_facts.gpu_runner_labels }}"
    append_labels: true
    token: "{{ github_admin_token }}"
  delegate_to: localhost
  when: ansible_facts.gpu_runner_labels | length > 0

- name: Use the open kernel modules where the GPUs support them (Turing and newer)
  ansible.builtin.set_fact:
    nvidia_driver_open_modules: >-
      {{ ansible_facts.nvidia.gpus | map(attribute='architecture')
         | select('in', ['Kepler', 'Maxwell', 'Pascal', 'Volta']) | list | length == 0 }}
  when: ansible_facts.gpu_vendor == 'nvidia'

- name: Pick the ROCm build of Ollama on AMD hosts
  ansible.builtin.set_fact:
    ollama_archive_suffix: "{{ '-rocm' if ansible_facts.gpu_vendor == 'amd' else '' }}"

- name: Reboot when the driver was upgraded under a running kernel module
  ansible.builtin.reboot:
  when: ansible_facts.nvidia.driver.state == 'version_mismatch'

- name: Install the fabric manager on NVSwitch systems
  ansible.builtin.package:
    name: cuda-drivers-fabricmanager-550
    state: present
  when: ansible_facts.nvidia.nvswitch_count > 0

- name: Give Ollama every CUDA device, MIG slices included
  ansible.builtin.copy:
    dest: /etc/systemd/system/ollama.service.d/gpus.conf
    content: |
      [Service]
      Environment="CUDA_VISIBLE_DEVICES={{ ansible_facts.nvidia.cuda_devices | join(',') }}"
    owner: root
    group: root
    mode: "0644"
  when: ansible_facts.nvidia.cuda_devices | length > 0

- name: Stop here when a GPU runner cannot reach its GPUs
  inferno.runners.gpu_facts:
    timeout: 20
    fail_on_error: true
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    gpu_vendor:
      description:
        - Vendor of the host's GPUs, V(none) without any.
        - With GPUs of both vendors, the vendor with more GPUs; NVIDIA on a tie.
        - GPUs are counted as for RV(ansible_facts.gpu_count), so a host whose driver is not
          installed yet is already described by its PCI bus.
      returned: always
      type: str
      choices: [nvidia, amd, none]
      sample: nvidia
    gpu_count:
      description:
        - GPUs of RV(ansible_facts.gpu_vendor); V(0) without a GPU, never a failure.
        - The GPUs the vendor's tool described (RV(ansible_facts.nvidia.gpu_count) or
          RV(ansible_facts.amd.gpu_count)), or, when it described none, the vendor's GPUs on the PCI
          bus, less those bound to V(vfio-pci) or V(pci-stub) (reserved for a virtual machine).
          MIG devices are not counted.
      returned: always
      type: int
      sample: 8
    gpu_runner_labels:
      description:
        - Self-hosted GitHub Actions runner labels describing the GPUs of RV(ansible_facts.gpu_vendor),
          in this order; V([]) without a GPU.
        - V(gpu); V(gpu:<vendor>); V(gpu:<model slug>), one per model present
          (RV(ansible_facts.nvidia.gpus[].model_slug)); V(gpu-count:<n>);
          V(gpu-mem:<class>gb), one per memory class present; V(cuda:<major.minor>), the
          highest CUDA version the NVIDIA driver supports.
        - The memory class is the GPU's memory total rounded up to the nearest size GPUs are sold
          with (16, 24, 40, 48, 80, 94, 141, 192 GB and the like) when it is at most 10% short of it,
          since drivers report a little less than the board carries; otherwise the total rounded to
          the nearest GiB.
        - Model, memory and CUDA labels need the vendor's tool; before the driver is installed
          only V(gpu), V(gpu:<vendor>) and V(gpu-count:<n>) are given.
        - Every label uses only letters, digits, V(-), V(_), V(.) and V(:), as GitHub requires.
      returned: always
      type: list
      elements: str
      sample: [gpu, "gpu:nvidia", "gpu:h100", "gpu-count:8", "gpu-mem:80gb", "cuda:12.2"]
    nvidia:
      description: NVIDIA GPUs, their driver and MIG devices.
      returned: always
      type: dict
      contains:
        present:
          description: Whether an NVIDIA GPU is on the PCI bus or was described by C(nvidia-smi).
          returned: always
          type: bool
          sample: true
        pci_devices:
          description:
            - NVIDIA display controllers found in sysfs, whatever driver they use.
            - A GPU listed here but missing from RV(ansible_facts.nvidia.gpus) is bound to another
              driver or has fallen off the bus.
          returned: always
          type: list
          elements: dict
          sample:
            - address: "0000:01:00.0"
              pci_id: "10de:20b2"
              kernel_driver: nvidia
          contains:
            address:
              description: PCI address as the kernel writes it.
              returned: always
              type: str
              sample: "0000:01:00.0"
            pci_id:
              description: Vendor and device ID, as C(lspci -n) prints them.
              returned: always
              type: str
              sample: "10de:20b2"
            kernel_driver:
              description: Kernel driver bound to the device, V(null) when none is.
              returned: always
              type: str
              sample: nvidia
        nvswitch_count:
          description: NVSwitch chips on the PCI bus. Systems with NVSwitch need nvidia-fabricmanager.
          returned: always
          type: int
          sample: 0
        driver:
          description: The driver and the tools that reach it.
          returned: always
          type: dict
          contains:
            state:
              description:
                - V(ok) when C(nvidia-smi) described the GPUs.
                - V(not_installed) when neither C(nvidia-smi) nor the kernel module is there.
                - V(no_nvidia_smi) when the kernel module is loaded but C(nvidia-smi) is missing.
                - V(not_loaded) when C(nvidia-smi) cannot reach the kernel module.
                - V(version_mismatch) when the user-space libraries and the loaded kernel module
                  differ, usually after a driver upgrade without a reboot.
                - V(unresponsive) when C(nvidia-smi) did not answer within O(timeout).
                - V(error) for any other failure; see RV(ansible_facts.nvidia.driver.error).
              returned: always
              type: str
              choices: [ok, not_installed, no_nvidia_smi, not_loaded, version_mismatch, unresponsive, error]
              sample: ok
            version:
              description: Driver version reported by C(nvidia-smi), V(null) unless the state is V(ok).
              returned: always
              type: str
              sample: "535.54.03"
            cuda_version:
              description: Highest CUDA version the driver supports.
              returned: always
              type: str
              sample: "12.2"
            kernel_module:
              description: Flavour of the loaded kernel module, V(open) or V(proprietary); V(null) when none is loaded.
              returned: always
              type: str
              sample: open
            kernel_module_version:
              description: Version of the loaded kernel module, from C(/proc/driver/nvidia/version).
              returned: always
              type: str
              sample: "535.54.03"
            nvidia_smi:
              description: Path of the C(nvidia-smi) used, V(null) when none was found.
              returned: always
              type: str
              sample: /usr/bin/nvidia-smi
            error:
              description: What C(nvidia-smi) said when it failed, V(null) otherwise.
              returned: always
              type: str
              sample: "Failed to initialize NVML: Driver/library version mismatch"
        gpu_count:
          description: GPUs described by C(nvidia-smi).
          returned: always
          type: int
          sample: 1
        memory_total_mib:
          description: Sum of the GPUs' memory, in MiB.
          returned: always
          type: int
          sample: 81920
        cuda_devices:
          description:
            - UUIDs to put in E(CUDA_VISIBLE_DEVICES) to reach every usable device.
            - A GPU in MIG mode is replaced by its MIG devices, since CUDA can only use it through them.
          returned: always
          type: list
          elements: str
          sample:
            - MIG-4d0efb7d-0970-51d9-b761-0686be6b8af3
            - GPU-d37e67a5-91dd-3774-a5cb-99096249601a
        gpus:
          description: One entry per GPU, in C(nvidia-smi) order.
          returned: always
          type: list
          elements: dict
          contains:
            index:
              description: C(nvidia-smi) index of the GPU.
              returned: always
              type: int
              sample: 0
            name:
              description: Product name.
              returned: always
              type: str
              sample: NVIDIA A100-SXM4-80GB
            model_slug:
              description:
                - Short lowercase model name, letters and digits only, as used in
                  RV(ansible_facts.gpu_runner_labels).
                - Vendor and product-line words and what names the package or memory size are left
                  out (C(NVIDIA A100-SXM4-80GB) gives V(a100), C(NVIDIA GeForce RTX 4090) V(rtx4090),
                  C(NVIDIA RTX 6000 Ada Generation) V(rtx6000ada)).
                - V(null) when the product name is unknown.
              returned: always
              type: str
              sample: a100
            uuid:
              description: GPU UUID.
              returned: always
              type: str
              sample: GPU-513536b6-7d19-9063-b049-1e69664bb298
            pci_bus_id:
              description: PCI address as C(nvidia-smi) prints it.
              returned: always
              type: str
              sample: "00000000:01:00.0"
            minor_number:
              description: Minor number of the device node, C(/dev/nvidia<minor_number>).
              returned: always
              type: int
              sample: 1
            architecture:
              description:
                - GPU architecture, as C(nvidia-smi) prints it (V(Kepler), V(Maxwell), V(Pascal),
                  V(Volta), V(Turing), V(Ampere), V(Ada Lovelace), V(Hopper), V(Blackwell)).
                - Drivers that do not print it (before R470) get it from the compute capability
                  (5.x Maxwell, 6.x Pascal, 7.0 and 7.2 Volta, 7.5 Turing, 8.0, 8.6 and 8.7 Ampere,
                  8.9 Ada Lovelace, 9.0 Hopper, 10.x to 12.x Blackwell) or, failing that, from the
                  product name (Tesla T4 Turing, A100 Ampere, H100 and GH200 Hopper, B200 Blackwell...).
                - The open kernel modules support Turing and newer only.
                - V(null) for a product neither source knows.
              returned: always
              type: str
              sample: Ampere
            compute_capability:
              description:
                - CUDA compute capability.
                - Taken from NVIDIA's published values for the models whose chip fixes it, and
                  otherwise asked of the driver, which answers from R510 on.
                - V(null) when neither knows it.
              returned: always
              type: str
              sample: "8.0"
            memory_total_mib:
              description: Framebuffer memory in MiB.
              returned: always
              type: int
              sample: 81920
            persistence_mode:
              description: Whether persistence mode is on; V(null) where the driver does not support it.
              returned: always
              type: bool
              sample: false
            mig_supported:
              description: Whether the GPU supports MIG.
              returned: always
              type: bool
              sample: true
            mig_enabled:
              description: Whether MIG mode is on now.
              returned: always
              type: bool
              sample: true
            mig_enabled_pending:
              description: Whether MIG mode will be on after the next GPU reset. A value different from
                RV(ansible_facts.nvidia.gpus[].mig_enabled) means a reset is pending.
              returned: always
              type: bool
              sample: true
            mig_devices:
              description: MIG devices of the GPU, empty when MIG is off.
              returned: always
              type: list
              elements: dict
              contains:
                index:
                  description: Index of the MIG device on its GPU.
                  returned: always
                  type: int
                  sample: 0
                uuid:
                  description: MIG device UUID, V(null) when C(nvidia-smi -L) failed.
                  returned: always
                  type: str
                  sample: MIG-4d0efb7d-0970-51d9-b761-0686be6b8af3
                profile:
                  description: MIG profile, V(null) when C(nvidia-smi -L) failed.
                  returned: always
                  type: str
                  sample: 1g.20gb
                gpu_instance_id:
                  description: GPU instance ID.
                  returned: always
                  type: int
                  sample: 3
                compute_instance_id:
                  description: Compute instance ID.
                  returned: always
                  type: int
                  sample: 0
                memory_total_mib:
                  description: Memory of the MIG device in MiB.
                  returned: always
                  type: int
                  sample: 19968
    amd:
      description: AMD GPUs and their driver, in the shape of RV(ansible_facts.nvidia).
      returned: always
      type: dict
      contains:
        present:
          description: Whether an AMD GPU is on the PCI bus or was described by C(rocm-smi).
          returned: always
          type: bool
          sample: true
        pci_devices:
          description:
            - AMD GPUs found in sysfs (vendor 0x1002, display controllers and, for Instinct boards,
              processing accelerators), whatever driver they use.
            - An AMD processor's integrated graphics is listed too.
          returned: always
          type: list
          elements: dict
          sample:
            - address: "0000:05:00.0"
              pci_id: "1002:74a1"
              kernel_driver: amdgpu
          contains:
            address:
              description: PCI address as the kernel writes it.
              returned: always
              type: str
              sample: "0000:05:00.0"
            pci_id:
              description: Vendor and device ID, as C(lspci -n) prints them.
              returned: always
              type: str
              sample: "1002:74a1"
            kernel_driver:
              description: Kernel driver bound to the device, V(null) when none is.
              returned: always
              type: str
              sample: amdgpu
        driver:
          description: The driver and the tool that reaches it.
          returned: always
          type: dict
          contains:
            state:
              description:
                - V(ok) when C(rocm-smi) described the GPUs.
                - V(not_installed) when neither C(rocm-smi) nor the C(amdgpu) kernel module is there.
                - V(no_rocm_smi) when C(amdgpu) is loaded but C(rocm-smi) is missing, which is normal on
                  a desktop without ROCm.
                - V(not_loaded) when C(rocm-smi) says C(amdgpu) is not loaded.
                - V(unresponsive) when C(rocm-smi) did not answer within O(timeout).
                - V(error) for any other failure; see RV(ansible_facts.amd.driver.error).
              returned: always
              type: str
              choices: [ok, not_installed, no_rocm_smi, not_loaded, unresponsive, error]
              sample: ok
            version:
              description: Driver version reported by C(rocm-smi), V(null) unless the state is V(ok).
              returned: always
              type: str
              sample: "6.7.0"
            kernel_module:
              description: V(amdgpu) while the kernel module is loaded, V(null) otherwise.
              returned: always
              type: str
              sample: amdgpu
            kernel_module_version:
              description: Version the loaded C(amdgpu) module declares in C(/sys/module/amdgpu/version)
                (ROCm's amdgpu-dkms declares one); V(null) when it declares none or is not loaded.
              returned: always
              type: str
              sample: "6.7.0"
            rocm_smi:
              description: Path of the C(rocm-smi) used, V(null) when none was found.
              returned: always
              type: str
              sample: /opt/rocm/bin/rocm-smi
            error:
              description: What C(rocm-smi) said when it failed, V(null) otherwise.
              returned: always
              type: str
              sample: "ERROR:root:Driver not initialized (amdgpu not found in modules)"
        gpu_count:
          description: GPUs described by C(rocm-smi).
          returned: always
          type: int
          sample: 8
        memory_total_mib:
          description: Sum of the GPUs' VRAM, in MiB.
          returned: always
          type: int
          sample: 1570304
        gpus:
          description: One entry per GPU, in C(rocm-smi) order.
          returned: always
          type: list
          elements: dict
          contains:
            index:
              description: C(rocm-smi) device index (the N of its C(cardN) key).
              returned: always
              type: int
              sample: 0
            name:
              description: Product name (C(rocm-smi)'s card series).
              returned: always
              type: str
              sample: AMD Instinct MI300X
            model_slug:
              description: Short lowercase model name, as for RV(ansible_facts.nvidia.gpus[].model_slug).
              returned: always
              type: str
              sample: mi300x
            card_model:
              description: Card model (PCI subsystem) as C(rocm-smi) prints it.
              returned: always
              type: str
              sample: "0x74a1"
            sku:
              description: Card SKU, V(null) when C(rocm-smi) cannot read it.
              returned: always
              type: str
              sample: M3000100
            pci_bus_id:
              description: PCI address as C(rocm-smi) prints it.
              returned: always
              type: str
              sample: "0000:05:00.0"
            memory_total_mib:
              description: VRAM in MiB.
              returned: always
              type: int
              sample: 196288
            gfx_version:
              description: LLVM target of the GPU; V(null) from C(rocm-smi) releases that do not print it.
              returned: always
              type: str
              sample: gfx942
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.inferno.runners.plugins.module_utils.gpu import ARGUMENT_SPEC, GpuFacts


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    GpuFacts(module).run()


if __name__ == '__main__':
    main()
