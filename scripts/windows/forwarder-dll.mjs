// node scripts/windows/forwarder-dll.mjs OUT.dll DLLNAME EXPORT=TARGETDLL.FUNCTION...
//
// Writes a PE32+ (x64) DLL that holds nothing but an export table of forwarders: EXPORT resolves to
// TARGETDLL!FUNCTION in the loader, no code of ours runs. setup.sh uses it for bcryptprimitives.dll,
// which Wine 8 lacks (Wine 9 added it) and every Rust >= 1.78 binary imports for ProcessPrng, here
// rolldown's win32 binding (vitest's transforms and module resolution). ProcessPrng(PBYTE, SIZE_T)
// forwards to advapi32!SystemFunction036 (RtlGenRandom(PVOID, ULONG)): same registers on x64, and
// Rust ignores the result (ProcessPrng is documented to always succeed).
import { writeFileSync } from 'node:fs';

const [out, dllName, ...specs] = process.argv.slice(2);
if (!out || !dllName || specs.length === 0) throw new Error('usage: forwarder-dll.mjs OUT.dll DLLNAME EXPORT=TARGET.FUNC...');
const exportsList = specs.map((s) => s.split('=')).sort((a, b) => (a[0] < b[0] ? -1 : 1)); // names sorted: the loader bisects them

const FILE_ALIGN = 0x200, SECT_ALIGN = 0x1000, RVA = 0x1000;
// The export section: directory, address table, name pointers, ordinals, then the strings.
const n = exportsList.length;
const dirSize = 40, eat = dirSize, enpt = eat + 4 * n, eot = enpt + 4 * n;
let strings = eot + 2 * n;
const sec = Buffer.alloc(4096);
const str = (s) => { const at = strings; sec.write(s + '\0', at, 'latin1'); strings += s.length + 1; return RVA + at; };
sec.writeUInt32LE(str(dllName), 12); // Name
sec.writeUInt32LE(1, 16); // Base
sec.writeUInt32LE(n, 20); // NumberOfFunctions
sec.writeUInt32LE(n, 24); // NumberOfNames
sec.writeUInt32LE(RVA + eat, 28);
sec.writeUInt32LE(RVA + enpt, 32);
sec.writeUInt32LE(RVA + eot, 36);
exportsList.forEach(([name, target], i) => {
  sec.writeUInt32LE(str(name), enpt + 4 * i);
  sec.writeUInt16LE(i, eot + 2 * i);
  // An address inside the export directory is a forwarder string, not code.
  sec.writeUInt32LE(str(target), eat + 4 * i);
});
const exportSize = strings;
const rawSize = Math.ceil(exportSize / FILE_ALIGN) * FILE_ALIGN;

const h = Buffer.alloc(FILE_ALIGN);
h.write('MZ', 0, 'latin1');
h.writeUInt32LE(0x40, 0x3c); // e_lfanew
h.write('PE\0\0', 0x40, 'latin1');
const coff = 0x44;
h.writeUInt16LE(0x8664, coff); // IMAGE_FILE_MACHINE_AMD64
h.writeUInt16LE(1, coff + 2); // one section
h.writeUInt16LE(240, coff + 16); // SizeOfOptionalHeader (PE32+)
h.writeUInt16LE(0x2022, coff + 18); // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL
const opt = coff + 20;
h.writeUInt16LE(0x20b, opt); // PE32+
h.writeUInt32LE(rawSize, opt + 8); // SizeOfInitializedData
h.writeUInt32LE(RVA, opt + 20); // BaseOfCode
h.writeBigUInt64LE(0x180000000n, opt + 24); // ImageBase
h.writeUInt32LE(SECT_ALIGN, opt + 32);
h.writeUInt32LE(FILE_ALIGN, opt + 36);
h.writeUInt16LE(6, opt + 40); // MajorOperatingSystemVersion
h.writeUInt16LE(6, opt + 48); // MajorSubsystemVersion
h.writeUInt32LE(RVA + Math.ceil(exportSize / SECT_ALIGN) * SECT_ALIGN, opt + 56); // SizeOfImage
h.writeUInt32LE(FILE_ALIGN, opt + 60); // SizeOfHeaders
h.writeUInt16LE(3, opt + 68); // IMAGE_SUBSYSTEM_WINDOWS_CUI
h.writeUInt16LE(0x0140, opt + 70); // DYNAMIC_BASE | NX_COMPAT: nothing in it needs relocating
h.writeBigUInt64LE(0x100000n, opt + 72);
h.writeBigUInt64LE(0x1000n, opt + 80);
h.writeBigUInt64LE(0x100000n, opt + 88);
h.writeBigUInt64LE(0x1000n, opt + 96);
h.writeUInt32LE(16, opt + 108); // NumberOfRvaAndSizes
h.writeUInt32LE(RVA, opt + 112); // DataDirectory[EXPORT]
h.writeUInt32LE(exportSize, opt + 116);
const sh = opt + 240;
h.write('.edata', sh, 'latin1');
h.writeUInt32LE(exportSize, sh + 8); // VirtualSize
h.writeUInt32LE(RVA, sh + 12);
h.writeUInt32LE(rawSize, sh + 16); // SizeOfRawData
h.writeUInt32LE(FILE_ALIGN, sh + 20); // PointerToRawData
h.writeUInt32LE(0x40000040, sh + 36); // INITIALIZED_DATA | MEM_READ
writeFileSync(out, Buffer.concat([h, sec.subarray(0, rawSize)]));
