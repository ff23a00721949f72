#include <stdio.h>

int main(void)
{
    puts("doppel " DP_VERSION);
    return 0;
}
