// Shared parts of the task definitions, as ecspresso users keep them.
{
  logConfiguration(group):: {
    logDriver: 'awslogs',
    options: {
      'awslogs-group': group,
      'awslogs-region': 'ap-northeast-1',
      'awslogs-stream-prefix': 'ecs',
    },
  },
}
