#!/bin/bash
#PBS -N sweepq-sc
#PBS -J 0-7
#PBS -j oe
#PBS -o @ROOT@/.sweepq/sweeps/sc/jobs/
#PBS -r y
#PBS -l walltime=04:00:00
#PBS -l select=1:ncpus=4:mem=16384mb:ngpus=1
#PBS -q gpuq
#PBS -A proj1
#PBS -l place=scatter
#
# Written by 'sweepq submit sc': each array task runs one agent until the
# sweep has nothing left to claim. At the walltime the agent gets SIGTERM
# and puts its running trials back (preempted) for the next job.
cd '@ROOT@' || exit 1
exec '@SWEEPQ@' agent --sweep 'sc' --exit-when-idle -j 4 --grace 60s
