package doctor

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
)

// BinaryInfo is what the header of an executable says about where it runs.
type BinaryInfo struct {
	Format string   `json:"format"` // "mach-o", "mach-o universal", "elf", "pe"
	Arches []string `json:"arches"` // "arm64", "amd64", "386", "arm", ...
}

// ReadBinaryInfo reads the executable header of path. Universal (fat)
// Mach-O files list every architecture they contain.
func ReadBinaryInfo(path string) (BinaryInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return BinaryInfo{}, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return BinaryInfo{}, fmt.Errorf("%s: too short to be an executable", path)
	}
	switch {
	case magic == [4]byte{0xca, 0xfe, 0xba, 0xbe} || magic == [4]byte{0xca, 0xfe, 0xba, 0xbf}:
		ff, err := macho.NewFatFile(f)
		if err != nil {
			if errors.Is(err, macho.ErrNotFat) {
				// 0xcafebabe is also a Java class file.
				return BinaryInfo{}, fmt.Errorf("%s: not a universal binary", path)
			}
			return BinaryInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		bi := BinaryInfo{Format: "mach-o universal"}
		for _, a := range ff.Arches {
			bi.Arches = append(bi.Arches, machoArch(a.Cpu))
		}
		return bi, nil
	case magic == [4]byte{0xfe, 0xed, 0xfa, 0xce} || magic == [4]byte{0xce, 0xfa, 0xed, 0xfe} ||
		magic == [4]byte{0xfe, 0xed, 0xfa, 0xcf} || magic == [4]byte{0xcf, 0xfa, 0xed, 0xfe}:
		mf, err := macho.NewFile(f)
		if err != nil {
			return BinaryInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		return BinaryInfo{Format: "mach-o", Arches: []string{machoArch(mf.Cpu)}}, nil
	case string(magic[:]) == "\x7fELF":
		ef, err := elf.NewFile(f)
		if err != nil {
			return BinaryInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		return BinaryInfo{Format: "elf", Arches: []string{elfArch(ef.Machine)}}, nil
	case magic[0] == 'M' && magic[1] == 'Z':
		pf, err := pe.NewFile(f)
		if err != nil {
			return BinaryInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		return BinaryInfo{Format: "pe", Arches: []string{peArch(pf.Machine)}}, nil
	}
	return BinaryInfo{}, fmt.Errorf("%s: not a Mach-O, ELF or PE executable (a script?)", path)
}

func machoArch(c macho.Cpu) string {
	switch c {
	case macho.CpuArm64:
		return "arm64"
	case macho.CpuAmd64:
		return "amd64"
	case macho.Cpu386:
		return "386"
	case macho.CpuArm:
		return "arm"
	}
	return c.String()
}

func elfArch(m elf.Machine) string {
	switch m {
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_386:
		return "386"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	}
	return m.String()
}

func peArch(m uint16) string {
	switch m {
	case pe.IMAGE_FILE_MACHINE_ARM64:
		return "arm64"
	case pe.IMAGE_FILE_MACHINE_AMD64:
		return "amd64"
	case pe.IMAGE_FILE_MACHINE_I386:
		return "386"
	}
	return fmt.Sprintf("pe-machine-0x%x", m)
}

// RunsNatively reports whether a binary with these arches runs without
// translation on a host of the given architecture.
func (b BinaryInfo) RunsNatively(hostArch string) bool {
	for _, a := range b.Arches {
		if a == hostArch {
			return true
		}
	}
	return false
}
