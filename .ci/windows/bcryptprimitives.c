/* For wine 8 only, which lacks bcryptprimitives.dll: Rust's std (1.78 and
 * later) fills its random keys with ProcessPrng from it. This stand-in
 * answers with RtlGenRandom (advapi32's SystemFunction036), which wine has.
 * .ci/run builds it beside the test executables; it never ships. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG piece = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
