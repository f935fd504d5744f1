/* Runs the compile-time ABI checks of abi_layout.c in the simulator build. */
#include <stdio.h>

int afr_abi_checked( void );

int main( void )
{
    printf( "ABI layout checks compiled (%d functions referenced)\n", afr_abi_checked() );
    return afr_abi_checked() == 24 ? 0 : 1;
}
