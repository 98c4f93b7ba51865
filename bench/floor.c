/* The least a sparse writer can do for case 2: create a new file, extend it to its length and
 * write COUNT 4-byte values STRIDE bytes apart with pwrite, nothing else. bench/compare.sh times
 * it beside dirac-init to show what the filesystem itself costs per non-zero element.
 * usage: floor PATH LENGTH FIRST STRIDE COUNT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: floor PATH LENGTH FIRST STRIDE COUNT\n");
        return 2;
    }
    long long length = atoll(argv[2]), first = atoll(argv[3]), stride = atoll(argv[4]);
    long count = atol(argv[5]);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || ftruncate(fd, length) != 0) {
        perror(argv[1]);
        return 1;
    }
    float one = 1.0f;
    for (long i = 0; i < count; i++) {
        if (pwrite(fd, &one, sizeof one, first + i * stride) != sizeof one) {
            perror("pwrite");
            return 1;
        }
    }
    return close(fd) != 0;
}
